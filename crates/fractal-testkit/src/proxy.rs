//! [`TcpProxy`]: a loopback TCP relay a test can cut and restore, to make a database or Redis
//! "go down" and "come back" for one server without touching the shared service.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Relays `127.0.0.1:<port>` to an upstream address while up; when cut, open relays are
/// closed and new connections are closed at once (as a stopped server would); when stalled,
/// connections stay open and nothing passes (as through a NAT that dropped the flow).
#[derive(Debug)]
pub struct TcpProxy {
    addr: SocketAddr,
    up: Arc<AtomicBool>,
    stalled: Arc<AtomicBool>,
    cuts: watch::Sender<u64>,
    stalls: watch::Sender<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl TcpProxy {
    /// Starts relaying to `upstream` (e.g. `127.0.0.1:5432`).
    ///
    /// # Panics
    /// If no loopback port can be bound (a broken test machine).
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let addr = listener.local_addr().expect("local address");
        let up = Arc::new(AtomicBool::new(true));
        let stalled = Arc::new(AtomicBool::new(false));
        let (cuts, _) = watch::channel(0u64);
        let (stalls, _) = watch::channel(0u64);
        let task = {
            let (up, stalled) = (Arc::clone(&up), Arc::clone(&stalled));
            let (cuts, stalls) = (cuts.clone(), stalls.clone());
            tokio::spawn(async move {
                while let Ok((mut client, _)) = listener.accept().await {
                    if !up.load(Ordering::SeqCst) {
                        drop(client);
                        continue;
                    }
                    let mut cut = cuts.subscribe();
                    // Subscribed before the flag is read: a stall in between is not missed.
                    let mut stall = stalls.subscribe();
                    if stalled.load(Ordering::SeqCst) {
                        // Held open, answered never, until cut.
                        tokio::spawn(async move {
                            let _held = client;
                            let _ = cut.changed().await;
                        });
                        continue;
                    }
                    tokio::spawn(async move {
                        let Ok(mut server) = TcpStream::connect(upstream).await else {
                            return;
                        };
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                            _ = cut.changed() => {}
                            _ = stall.changed() => {
                                let _ = cut.changed().await;
                            }
                        }
                    });
                }
            })
        };
        Self {
            addr,
            up,
            stalled,
            cuts,
            stalls,
            task,
        }
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Closes every relayed connection and refuses new ones until [`Self::restore`].
    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.cuts.send_modify(|n| *n += 1);
    }

    /// Relays again after [`Self::cut`] (a stall stays).
    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }

    /// Forwards nothing from now on, in either direction, keeping every connection open (new
    /// ones too) until [`Self::cut`] or drop: no FIN, no RST, as a NAT or firewall that
    /// forgot the flow.
    pub fn stall(&self) {
        self.stalled.store(true, Ordering::SeqCst);
        self.stalls.send_modify(|n| *n += 1);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.cut();
        self.task.abort();
    }
}
