//! Injected faults: which API call fails, and how.
//!
//! Every API call draws its fate from one seeded random stream at arrival, always the
//! same three numbers (fault, flavour, latency), so a given seed gives the same sequence
//! of decisions for the same sequence of requests whichever faults are switched on.
//! Downloads draw from a stream of their own, so fetching videos never shifts the API's.

use std::ops::Range;
use std::sync::Mutex;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// Independent random streams derived from the one seed.
#[derive(Clone, Copy)]
pub(crate) enum Stream {
    Requests = 1,
    Downloads = 2,
    Renders = 3,
    Webhooks = 4,
    Ids = 5,
}

/// A random generator for one purpose, derived from the sandbox's seed.
pub(crate) fn stream_rng(seed: u64, stream: Stream) -> StdRng {
    // SplitMix-style mixing so nearby seeds give unrelated streams.
    let mut z = seed ^ (stream as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    StdRng::seed_from_u64(z ^ (z >> 31))
}

/// A duration drawn uniformly from `r`; an empty range gives its start.
pub(crate) fn draw_duration(rng: &mut StdRng, r: &Range<Duration>) -> Duration {
    let u: f64 = rng.random();
    if r.end <= r.start {
        return r.start;
    }
    r.start + (r.end - r.start).mul_f64(u)
}

/// What happens to one API call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Handled normally.
    None,
    /// Answered with a server error without being handled.
    ServerError(ServerError),
    /// Connection closed before the handler runs.
    Drop,
    /// Handled, then the connection is closed without an answer.
    Lost,
}

/// The shape of an injected server error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum ServerError {
    /// `500` with the JSON envelope `INTERNAL_ERROR` (two times in three).
    Internal,
    /// `502` with an HTML body, as a proxy in front of the API would send.
    BadGateway,
    /// `503` with an HTML body and `Retry-After: 1`.
    Unavailable,
}

/// The fate of one API call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Plan {
    pub fault: Fault,
    pub latency: Duration,
}

pub(crate) struct Faults {
    fail_probability: f64,
    drop_probability: f64,
    lost_probability: f64,
    latency: Range<Duration>,
    download_fail_probability: f64,
    requests: Mutex<StdRng>,
    downloads: Mutex<StdRng>,
}

impl Faults {
    pub fn new(
        seed: u64,
        fail_probability: f64,
        drop_probability: f64,
        lost_probability: f64,
        latency: Range<Duration>,
        download_fail_probability: f64,
    ) -> Self {
        Faults {
            fail_probability,
            drop_probability,
            lost_probability,
            latency,
            download_fail_probability,
            requests: Mutex::new(stream_rng(seed, Stream::Requests)),
            downloads: Mutex::new(stream_rng(seed, Stream::Downloads)),
        }
    }

    /// Draws the fate of the next API call.
    pub fn draw(&self) -> Plan {
        let (u, flavour, latency) = {
            let mut rng = self.requests.lock().unwrap_or_else(|p| p.into_inner());
            let u: f64 = rng.random();
            let flavour: f64 = rng.random();
            let latency = draw_duration(&mut rng, &self.latency);
            (u, flavour, latency)
        };
        let fault = if u < self.drop_probability {
            Fault::Drop
        } else if u < self.drop_probability + self.fail_probability {
            Fault::ServerError(if flavour < 2.0 / 3.0 {
                ServerError::Internal
            } else if flavour < 5.0 / 6.0 {
                ServerError::BadGateway
            } else {
                ServerError::Unavailable
            })
        } else if u < self.drop_probability + self.fail_probability + self.lost_probability {
            Fault::Lost
        } else {
            Fault::None
        };
        Plan { fault, latency }
    }

    /// Whether the next download is cut off.
    pub fn download_dropped(&self) -> bool {
        let u: f64 = self
            .downloads
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .random();
        u < self.download_fail_probability
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn faults(seed: u64, fail: f64, drop: f64, lost: f64) -> Faults {
        Faults::new(seed, fail, drop, lost, Duration::ZERO..Duration::ZERO, 0.0)
    }

    #[test]
    fn same_seed_same_decisions() {
        let a = faults(7, 0.2, 0.2, 0.2);
        let b = faults(7, 0.2, 0.2, 0.2);
        let xs: Vec<_> = (0..200).map(|_| a.draw()).collect();
        let ys: Vec<_> = (0..200).map(|_| b.draw()).collect();
        assert_eq!(xs, ys);
        let c = faults(8, 0.2, 0.2, 0.2);
        let zs: Vec<_> = (0..200).map(|_| c.draw()).collect();
        assert_ne!(xs, zs);
    }

    #[test]
    fn probabilities_show_up_in_proportion() {
        let f = faults(1, 0.3, 0.0, 0.0);
        let n = 10_000;
        let errors = (0..n)
            .filter(|_| matches!(f.draw().fault, Fault::ServerError(_)))
            .count();
        assert!((2700..3300).contains(&errors), "{errors}");
        let f = faults(1, 0.0, 0.0, 0.0);
        assert!((0..n).all(|_| f.draw().fault == Fault::None));
    }

    #[test]
    fn server_errors_come_in_three_flavours() {
        let f = faults(3, 1.0, 0.0, 0.0);
        let kinds: std::collections::HashSet<_> = (0..500)
            .map(|_| match f.draw().fault {
                Fault::ServerError(k) => k,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(kinds.len(), 3);
    }

    #[test]
    fn latency_stays_in_range() {
        let r = Duration::from_millis(10)..Duration::from_millis(20);
        let f = Faults::new(5, 0.0, 0.0, 0.0, r.clone(), 0.0);
        for _ in 0..1000 {
            let l = f.draw().latency;
            assert!(l >= r.start && l <= r.end, "{l:?}");
        }
    }
}
