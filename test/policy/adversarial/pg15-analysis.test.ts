// The adversarial corpus (issue 17) against PostgreSQL 15 through `bastion serve`: the classes the
// analyser decides (lexing, functions, SQL carried as data, WHERE clauses).
import { adversarialSuite } from './suite.js';

adversarialSuite(15, ['lexing', 'functions', 'sql-as-data', 'where']);
