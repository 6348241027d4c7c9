(function_definition declarator: (_) @name) @chunk.function
(struct_specifier name: (type_identifier) @name body: (_)) @chunk.class
(union_specifier name: (type_identifier) @name body: (_)) @chunk.class
(enum_specifier name: (type_identifier) @name body: (_)) @chunk.class
