//! The server's stop, as every part sees it: whether it still takes new rooms and connections,
//! and a signal that fires once when it begins to stop.

use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc,
};

use tokio::sync::watch;

#[derive(Clone)]
pub struct Shutdown(Arc<Inner>);

struct Inner {
    accepting: AtomicBool,
    begun: watch::Sender<bool>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self(Arc::new(Inner {
            accepting: AtomicBool::new(true),
            begun: watch::channel(false).0,
        }))
    }
}

impl Shutdown {
    /// Stop taking new rooms and connections, and tell everything that waits on [`Self::wait`].
    pub fn begin(&self) {
        self.0.accepting.store(false, Ordering::Relaxed);
        self.0.begun.send_replace(true);
    }

    pub fn is_accepting(&self) -> bool {
        self.0.accepting.load(Ordering::Relaxed)
    }

    /// Resolves once shutdown has begun, also for a waiter that arrives after it began.
    pub async fn wait(&self) {
        let mut begun = self.0.begun.subscribe();
        let _ = begun.wait_for(|begun| *begun).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_late_waiter_still_sees_the_stop() {
        let shutdown = Shutdown::default();
        assert!(shutdown.is_accepting());
        shutdown.begin();
        assert!(!shutdown.is_accepting());
        shutdown.wait().await;
    }
}
