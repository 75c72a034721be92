// The adversarial corpus (issue 17) against PostgreSQL 15 through `bastion serve`: what the server
// enforces, server files and settings, approvals, and policy changes reaching open sessions.
import { adversarialSuite } from './suite.js';

adversarialSuite(15, ['server-enforced', 'server-files', 'approvals', 'policy-reload']);
