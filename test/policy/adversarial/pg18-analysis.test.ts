// The adversarial corpus (issue 17) against PostgreSQL 18 through `bastion serve`: the classes the
// analyser decides (lexing, functions, SQL carried as data, WHERE clauses).
import { adversarialSuite } from './suite.js';

adversarialSuite(18, ['lexing', 'functions', 'sql-as-data', 'where']);
