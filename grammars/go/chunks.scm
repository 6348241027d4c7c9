(function_declaration name: (identifier) @name) @chunk.function
(method_declaration name: (field_identifier) @name) @chunk.method
(type_declaration (type_spec name: (type_identifier) @name)) @chunk.class
