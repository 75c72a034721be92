// The adversarial corpus (issue 17) against PostgreSQL 18, through `bastion serve`.
import { adversarialSuite } from './suite.js';

adversarialSuite(18);
