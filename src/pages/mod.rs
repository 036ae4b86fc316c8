//! The views, one file per page. They read the state their engine writes (`ui`), start the
//! engine in the browser (`client`), and reach the server only through server functions and
//! the [`RoomDirectory`](crate::directory::RoomDirectory) the server puts in context.

mod audience;
mod chat;
pub mod check;
pub mod home;
mod layers;
pub mod not_found;
pub mod talk;
pub mod watch;
mod watch_link;
