(function_declaration name: (identifier) @name) @chunk.function
(generator_function_declaration name: (identifier) @name) @chunk.function
(class_declaration name: (_) @name) @chunk.class
(abstract_class_declaration name: (_) @name) @chunk.class
(interface_declaration name: (_) @name) @chunk.class
(enum_declaration name: (_) @name) @chunk.class
(internal_module name: (_) @name) @chunk.class
(method_definition name: (_) @name) @chunk.method
(lexical_declaration (variable_declarator name: (identifier) @name value: [(arrow_function) (function_expression)])) @chunk.function
