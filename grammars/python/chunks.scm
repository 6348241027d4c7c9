(class_definition name: (identifier) @name) @chunk.class
(function_definition name: (identifier) @name) @chunk.function
