(function_item name: (identifier) @name) @chunk.function
(impl_item type: (_) @name) @chunk.class
(trait_item name: (type_identifier) @name) @chunk.class
(struct_item name: (type_identifier) @name) @chunk.class
(enum_item name: (type_identifier) @name) @chunk.class
(union_item name: (type_identifier) @name) @chunk.class
(mod_item name: (identifier) @name body: (_)) @chunk.class
(macro_definition name: (identifier) @name) @chunk.function
