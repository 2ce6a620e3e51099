//! Sockets this side closed, freed after the burst of pushes that closed
//! them (see [`Reaper`]).

use std::{sync::OnceLock, time::Duration};

use tokio::sync::mpsc;

/// Sockets this side closed, freed once the burst that closed them is out.
///
/// Freeing a socket costs about as much as writing to it (the poller's
/// deregistration, `close`, the FIN and the buffers), and when a bulk ending
/// tells thousands of tabs at once, freeing each right after its write made
/// every later tab wait for the earlier ones' teardowns. So a tab whose
/// socket this side closed hands it here; the reaper keeps what arrives
/// until none has come for [`QUIET`] (or [`MAX_HELD`] are held), then frees
/// them all. The close frames are already written: the browsers have been
/// told; only the TCP teardown waits.
#[derive(Debug, Default)]
pub struct Reaper {
    sender: OnceLock<mpsc::UnboundedSender<Retired>>,
}

type Retired = Box<dyn Send>;

/// How long the reaper waits for more sockets before freeing what it holds.
const QUIET: Duration = Duration::from_millis(10);
/// The most it holds before freeing regardless.
const MAX_HELD: usize = 50_000;

impl Reaper {
    /// Hands over a closed socket (started on first use, on the runtime
    /// serving the tabs).
    pub fn retire<T: Send + 'static>(&self, socket: T) {
        let sender = self.sender.get_or_init(|| {
            let (sender, receiver) = mpsc::unbounded_channel();
            tokio::spawn(reap(receiver));
            sender
        });
        // The reaper is gone (the runtime is stopping): free it here.
        let _ = sender.send(Box::new(socket));
    }
}

async fn reap(mut retired: mpsc::UnboundedReceiver<Retired>) {
    let mut held = Vec::new();
    while retired.recv_many(&mut held, 1024).await > 0 {
        while held.len() < MAX_HELD {
            match tokio::time::timeout(QUIET, retired.recv_many(&mut held, 1024)).await {
                Ok(0) => return,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        held.clear();
    }
}
