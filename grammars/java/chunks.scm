(class_declaration name: (identifier) @name) @chunk.class
(record_declaration name: (identifier) @name) @chunk.class
(interface_declaration name: (identifier) @name) @chunk.class
(enum_declaration name: (identifier) @name) @chunk.class
(method_declaration name: (identifier) @name) @chunk.method
(constructor_declaration name: (identifier) @name) @chunk.method
