//! One small client per seed, speaking its wire as its own clients did,
//! on any [`super::Endpoint`] (a node's main listener, binary or in
//! process, or a layer's own listener): the tests of a layer say what they
//! send and what must come back, not how to build the request.

pub mod cacaoweb;
pub mod metadisk;
pub mod openload;

// Each test crate uses some of them.
#[allow(unused_imports)]
pub use cacaoweb::Cacaoweb;
#[allow(unused_imports)]
pub use metadisk::MetaDisk;
#[allow(unused_imports)]
pub use openload::Openload;
