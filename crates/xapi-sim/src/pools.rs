//! Several pools in one process (`xapi-sim --pools N`), so that hosts can
//! join, leave and move between pools. Pool 1 is the usual one (the demo
//! pool, `--load` or `--state FILE`); pool K (2..N) starts as a standalone
//! host `xs-pool-K-host` at 127.0.K.11, kept in `FILE.poolK` with `--state`.
//!
//! Every live host address gets a listener on the front door's port; a request
//! there goes to the pool the host is in at that moment, so a host that
//! joined another pool answers as that pool's member (`HOST_IS_SLAVE`) and
//! an ejected one as the master of its new pool. The front door serves pool 1.
//! A pool whose host has left is vacant: the next ejected host becomes a
//! pool there (or in a new one, `FILE.poolK` for the next K).

use crate::core::{Core, Federation};
use crate::db::Db;
use crate::disks::Disks;
use crate::fixtures::FixtureOptions;
use crate::persist::Wal;
use crate::server::{self, SimOptions};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Router;
use parking_lot::RwLock;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Weak};

/// The pools of the process.
pub struct Pools {
    opts: SimOptions,
    cores: RwLock<Vec<(Arc<Core>, Router)>>,
    this: Weak<Pools>,
    /// Woken when any pool's database changes (the host listeners follow).
    wake: Arc<tokio::sync::Notify>,
}

/// The state file of pool `k` (1-based): `FILE` for the first, `FILE.poolK` for the others.
fn state_of(opts: &SimOptions, k: usize) -> Option<PathBuf> {
    let state = opts.state.as_ref()?;
    if k == 1 {
        return Some(state.clone());
    }
    let mut s = state.as_os_str().to_owned();
    s.push(format!(".pool{k}"));
    Some(PathBuf::from(s))
}

/// The options of pool `k` (1-based): its state file, its own seed (refs
/// and uuids differ between pools), and for K > 1 a standalone host.
fn options_of(opts: &SimOptions, k: usize) -> SimOptions {
    let mut o = opts.clone();
    if k > 1 {
        o.state = state_of(opts, k);
        o.load = None;
        o.seed = opts.seed.wrapping_add(1_000_003 * (k as u64 - 1));
        o.fixture = FixtureOptions {
            extra_vms: 0,
            loopback_hosts: true,
            standalone: Some((format!("xs-pool-{k}-host"), format!("127.0.{k}.11"))),
        };
    }
    o
}

impl Pools {
    /// Builds `n` pools (at least one) and the notes of reading pool 1's
    /// database. With `--state`, pools added by earlier runs (`FILE.poolK`
    /// beyond `n`) come back too.
    pub fn build(opts: &SimOptions, n: usize) -> std::io::Result<(Arc<Pools>, Vec<String>)> {
        let mut cores = Vec::new();
        let (first, notes) = server::build_core_noting(&options_of(opts, 1))?;
        cores.push(first);
        let mut k = 2;
        while k <= n || state_of(opts, k).is_some_and(|s| crate::persist::exists(&s)) {
            cores.push(server::build_core(&options_of(opts, k))?);
            k += 1;
        }
        let pools = Arc::new_cyclic(|this: &Weak<Pools>| Pools {
            opts: opts.clone(),
            cores: RwLock::new(cores.iter().map(|c| (c.clone(), server::router(c.clone()))).collect()),
            this: this.clone(),
            wake: Arc::new(tokio::sync::Notify::new()),
        });
        let weak: Weak<dyn Federation> = pools.this.clone();
        for c in &cores {
            c.join_federation(weak.clone());
        }
        Ok((pools, notes))
    }

    /// The pools, pool 1 first.
    pub fn cores(&self) -> Vec<Arc<Core>> {
        self.cores.read().iter().map(|(c, _)| c.clone()).collect()
    }

    /// The pool a host of this address is in, with its router.
    fn owner(&self, address: &str) -> Option<(Arc<Core>, Router)> {
        self.cores
            .read()
            .iter()
            .find(|(c, _)| {
                let db = c.db.read();
                db.all("host").iter().any(|h| db.string(h, "address") == address)
            })
            .cloned()
    }

    /// Every host address of every pool, once each, pool by pool.
    pub fn addresses(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for c in self.cores() {
            let db = c.db.read();
            for h in db.all("host") {
                let a = db.string(&h, "address");
                if !out.contains(&a) {
                    out.push(a);
                }
            }
        }
        out
    }

    /// The host addresses of every pool that answer now (see [`server::wanted_doors`]).
    fn wanted_doors(&self, front: std::net::IpAddr) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for c in self.cores() {
            for a in server::wanted_doors(&c.db.read(), front) {
                if !out.contains(&a) {
                    out.push(a);
                }
            }
        }
        out
    }

    /// A listener on the front door's port for every loopback host address of every pool.
    pub fn host_listeners(&self, front: SocketAddr) -> std::io::Result<Vec<(String, std::net::TcpListener)>> {
        let mut out = Vec::new();
        for address in self.addresses() {
            let Ok(ip) = address.parse::<std::net::IpAddr>() else { continue };
            if !ip.is_loopback() || ip == front.ip() {
                continue;
            }
            let at = SocketAddr::new(ip, front.port());
            let listener = std::net::TcpListener::bind(at).map_err(|e| {
                std::io::Error::new(e.kind(), format!("cannot listen on {at} for the host {address}: {e}"))
            })?;
            out.push((address, listener));
        }
        Ok(out)
    }

    /// The app at a host's address: each request goes to the router of the
    /// pool the host is in now, marked as come in at that host.
    fn host_app(self: &Arc<Pools>, address: String) -> Router {
        let pools = self.clone();
        let service = tower::service_fn(move |req: axum::extract::Request| {
            let pools = pools.clone();
            let address = address.clone();
            async move {
                let Some((_, router)) = pools.owner(&address) else {
                    let page = (StatusCode::SERVICE_UNAVAILABLE, format!("no host answers at {address}\n"));
                    return Ok::<_, std::convert::Infallible>(page.into_response());
                };
                let req = server::at_door(req, address).await;
                tower::ServiceExt::oneshot(router, req).await
            }
        });
        Router::new().fallback_service(service)
    }

    /// Serves every pool until `shutdown` resolves, then checkpoints them:
    /// pool 1 at the front door, every host at its own address.
    pub async fn serve(
        self: Arc<Pools>,
        listener: std::net::TcpListener,
        hosts: Vec<(String, std::net::TcpListener)>,
        tls: bool,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        for c in self.cores() {
            server::spawn_housekeeping(&c);
            server::wake_on_changes(&c, self.wake.clone());
        }
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let front_at = listener.local_addr()?;
        let (p, a) = (self.clone(), self.clone());
        let doors = tokio::spawn(server::keep_doors(
            front_at.port(),
            hosts,
            {
                let pools = self.clone();
                move |address: &str| {
                    let (pools, at) = (pools.clone(), address.to_string());
                    tls.then(|| {
                        server::Tls::new(move || {
                            let own = pools.owner(&at).and_then(|(core, _)| server::host_key(&core, &at));
                            own.or_else(|| pools.cores()[0].certs.front().map(|s| s.key.clone()))
                        })
                    })
                }
            },
            move || p.wanted_doors(front_at.ip()),
            move |address| a.host_app(address.to_string()),
            self.wake.clone(),
            stop_rx,
        ));
        let first = self.cores()[0].clone();
        let tls = tls.then(|| server::Tls::front(first.clone()));
        let front = server::serve_one(server::router(first), listener, tls, async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        });
        let result = front.await;
        let _ = doors.await;
        result?;
        for c in self.cores() {
            c.checkpoint()?;
        }
        Ok(())
    }
}

impl Federation for Pools {
    fn pool_at(&self, address: &str) -> Option<Arc<Core>> {
        self.owner(address).map(|(c, _)| c)
    }

    fn take_in(&self, name: &str, address: &str, host_uuid: &str) -> std::io::Result<()> {
        let home = self.vacant()?;
        home.write(|db| {
            crate::fixtures::seed_standalone(db, name, address, Some(host_uuid));
            Ok(())
        })
        .map_err(|e| std::io::Error::other(format!("{:?}", e)))
    }
}

impl Pools {
    /// A pool without hosts: one whose host left, or a new one.
    fn vacant(&self) -> std::io::Result<Arc<Core>> {
        let empty = self.cores().into_iter().find(|c| c.db.read().all("host").is_empty());
        if let Some(c) = empty {
            return Ok(c);
        }
        let mut cores = self.cores.write();
        let k = cores.len() + 1;
        let opts = options_of(&self.opts, k);
        let db = Db::new(opts.seed);
        let wal = opts.state.as_deref().map(|p| Wal::open(p, &db)).transpose()?;
        let disks = match &opts.state {
            Some(p) => Disks::open(&crate::disks::dir_for_state(p))?,
            None => Disks::memory(),
        };
        let core = Core::new(db, opts.config.clone(), wal, disks, opts.seed)?;
        crate::ha::install(&core);
        let weak: Weak<dyn Federation> = self.this.clone();
        core.join_federation(weak);
        server::spawn_housekeeping(&core);
        server::wake_on_changes(&core, self.wake.clone());
        cores.push((core.clone(), server::router(core.clone())));
        Ok(core)
    }
}

/// Several pools on a background thread, stopped on drop (the
/// `--pools N` counterpart of [`server::Sim`]), for tests.
pub struct PoolsSim {
    pub addr: SocketAddr,
    pub tls: bool,
    pub pools: Arc<Pools>,
    _server: server::Background,
}

impl PoolsSim {
    /// Starts `n` pools, the first at `opts.listen`.
    pub fn start(opts: SimOptions, n: usize) -> std::io::Result<PoolsSim> {
        let (pools, _) = Pools::build(&opts, n)?;
        let listener = std::net::TcpListener::bind(opts.listen)?;
        let addr = listener.local_addr()?;
        let hosts = pools.host_listeners(addr)?;
        let tls = opts.tls;
        let p = pools.clone();
        let server = server::Background::spawn("xapi-sim-pools", move |stopped| async move {
            let _ = p
                .serve(listener, hosts, tls, async {
                    let _ = stopped.await;
                })
                .await;
        })?;
        Ok(PoolsSim { addr, tls: opts.tls, pools, _server: server })
    }
}
