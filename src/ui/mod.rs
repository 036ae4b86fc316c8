//! The state each page shows, as signals: the browser engines (`client`) write it, the pages
//! (`pages`) read it. Neither imports the other; both import this.

pub mod chat;
pub mod check;
pub mod talk;
pub mod watch;
