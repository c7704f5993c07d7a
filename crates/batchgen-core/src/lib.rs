//! batchgen-core: the templating core of batchgen (under construction).

pub mod validate;
