(function_definition declarator: (_) @name) @chunk.function
(class_specifier name: (_) @name body: (_)) @chunk.class
(struct_specifier name: (_) @name body: (_)) @chunk.class
(union_specifier name: (_) @name body: (_)) @chunk.class
(enum_specifier name: (_) @name body: (_)) @chunk.class
