// The masking adversarial corpus (issue 18) against PostgreSQL 18 through `bastion serve`: every
// case as the `rules` and the `dflt` identity, checked in what the client received, the store and
// the exported reports.
import { maskSuite } from './suite.js';

maskSuite();
