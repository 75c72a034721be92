// Built-ins that read relations named by their arguments (a query text, a regclass, a cursor, a
// schema, the whole database): their output carries whatever those relations hold. One list for
// the catalog query, the lineage analysis and FunctionCall results.

export const DATA_DUMPING_BUILTINS: readonly string[] = [
  'query_to_xml',
  'query_to_xml_and_xmlschema',
  'table_to_xml',
  'table_to_xml_and_xmlschema',
  'cursor_to_xml',
  'schema_to_xml',
  'schema_to_xml_and_xmlschema',
  'database_to_xml',
  'database_to_xml_and_xmlschema',
  'ts_stat',
  'ts_rewrite',
];
