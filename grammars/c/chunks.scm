(function_definition declarator: (function_declarator declarator: (_) @name)) @chunk.function
(function_definition declarator: (pointer_declarator declarator: (function_declarator declarator: (_) @name))) @chunk.function
(struct_specifier name: (type_identifier) @name body: (_)) @chunk.class
(union_specifier name: (type_identifier) @name body: (_)) @chunk.class
(enum_specifier name: (type_identifier) @name body: (_)) @chunk.class
