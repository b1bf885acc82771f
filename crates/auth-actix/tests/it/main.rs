//! auth-actix over HTTP: the stack's routers mounted in a bare `App`, over a non-Fractal store
//! (in-memory, UUID ids) and FastAPI Users' plain schema.

mod helpers;
mod routers;
mod stack;
