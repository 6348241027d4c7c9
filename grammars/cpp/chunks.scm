(function_definition declarator: (function_declarator declarator: (_) @name)) @chunk.function
(function_definition declarator: (pointer_declarator declarator: (function_declarator declarator: (_) @name))) @chunk.function
(function_definition declarator: (reference_declarator (function_declarator declarator: (_) @name))) @chunk.function
(class_specifier name: (_) @name body: (_)) @chunk.class
(struct_specifier name: (_) @name body: (_)) @chunk.class
(union_specifier name: (_) @name body: (_)) @chunk.class
(enum_specifier name: (_) @name body: (_)) @chunk.class
