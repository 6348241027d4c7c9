(function_declaration name: (_) @name) @chunk.function
(assignment_statement (variable_list . name: (identifier) @name) (expression_list . value: (function_definition))) @chunk.function
(assignment_statement (variable_list . name: (dot_index_expression) @name) (expression_list . value: (function_definition))) @chunk.function
