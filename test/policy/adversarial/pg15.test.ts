// The adversarial corpus (issue 17) against PostgreSQL 15 (Debian), through `bastion serve`.
import { adversarialSuite } from './suite.js';

adversarialSuite(15);
