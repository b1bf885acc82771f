//! The SeaORM adapter over a user table that is not Fractal's (`member`, UUID ids): the
//! exported adapter suite on every backend, single-use OAuth states, and what its migrations
//! create (auth tables only).

mod contention;
mod member;
mod schema;
mod suite;
