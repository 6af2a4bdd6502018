//! Emitter identity across transmissions: a transmitter that keys off and on again is the same
//! emitter, even though each transmission is a new track.
//!
//! A track ([`crate::tracker`]) lives for one transmission: it is lost once no receiver has seen
//! it for `lost_after_ns`. The [`EmitterMemory`] remembers what a lost track looked like (its
//! frequency and bandwidth, how often and how long it was heard) for `emitter_memory_ns` after
//! it was last heard, and when a new track is confirmed it is matched against what is
//! remembered:
//!
//! - **frequency**: the two centres are within half the *narrower* of the two bandwidths of each
//!   other (each centre lies inside the other's occupied span). This is deliberately tighter
//!   than the tracker's association tolerance: two carriers a couple of FFT bins apart that take
//!   turns must stay two emitters. The price: a receiver tuning error larger than half a
//!   signal's bandwidth, when a different receiver is best this time, makes a new emitter.
//! - **bandwidth**: the wider of the two bandwidths is at most [`BANDWIDTH_RATIO`] times the
//!   narrower (a detector's width estimate of the same signal varies with its SNR and
//!   modulation, a different kind of signal usually differs more).
//! - **one live track per emitter**: an emitter already in use by a live track is not offered
//!   to another one.
//! - **position**: the tracker knows no positions. Fusion, which does, checks a returning
//!   emitter's new position fix against the one remembered from its earlier transmission and
//!   detaches the track ([`EmitterMemory::detach`], to another remembered emitter located
//!   there, or a new one) when they disagree beyond their uncertainties; until a fix exists the
//!   match rests on frequency and bandwidth alone.
//!
//! The nearest remembered emitter (in frequency) that passes wins; without one a new emitter id
//! is minted. Ids are never reused.
//!
//! The memory is bounded: emitters unheard for longer than the memory are forgotten, and at
//! most [`MAX_EMITTERS`] are kept (the least recently heard idle one goes first).

/// Most emitters remembered at once. Each costs a few dozen bytes and a linear scan per
/// confirmed track; a busy band holds hundreds of transmitters, not tens of thousands.
pub const MAX_EMITTERS: usize = 4096;

/// The wider of two bandwidths may be at most this many times the narrower for the two to be
/// the same emitter (estimates of one signal's width vary by a factor 2-3 with SNR and
/// modulation; a carrier and a voice channel differ by 10 or more).
pub const BANDWIDTH_RATIO: f64 = 4.0;

/// Narrowest bandwidth used when comparing widths, Hz: a pure carrier may be reported a few Hz
/// wide, which would make any ratio meaningless.
const MIN_COMPARED_BANDWIDTH_HZ: f64 = 1.0;

/// What is remembered about one emitter.
#[derive(Debug, Clone, PartialEq)]
pub struct Emitter {
    /// Stable id, never reused.
    pub id: u64,
    /// Centre frequency of its latest transmission, Hz.
    pub frequency_hz: f64,
    /// Occupied bandwidth of its latest transmission, Hz.
    pub bandwidth_hz: f64,
    /// Transmissions (tracks) attributed to it, the live one included.
    pub activations: u32,
    /// Total time heard over its finished transmissions (first to last detection of each), ns.
    pub on_time_ns: i64,
    /// Start of its first transmission, ns since the epoch.
    pub first_heard_ns: i64,
    /// Last detection of its latest finished transmission, ns since the epoch.
    pub last_heard_ns: i64,
    /// Whether a live track is this emitter now.
    pub live: bool,
}

/// What a live track knows of its emitter, fixed when the track was attributed to it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EmitterLink {
    /// The emitter's id.
    pub id: u64,
    /// Transmissions, this one included.
    pub activations: u32,
    /// Time heard over the emitter's earlier transmissions, ns.
    pub earlier_on_time_ns: i64,
    /// Start of the emitter's first transmission, ns since the epoch.
    pub first_heard_ns: i64,
}

impl EmitterLink {
    /// The emitter's duty cycle, 0..1, while a transmission that started at `first_seen_ns` was
    /// last heard at `last_seen_ns`: time heard (first to last detection of each transmission,
    /// this one included) over the time from the emitter's first detection to its latest. 1
    /// for a single transmission (it has been on all the time it has been known).
    pub fn duty_cycle(&self, first_seen_ns: i64, last_seen_ns: i64) -> f64 {
        let span = last_seen_ns - self.first_heard_ns;
        if span <= 0 {
            return 1.0;
        }
        let on = self.earlier_on_time_ns + (last_seen_ns - first_seen_ns).max(0);
        (on as f64 / span as f64).clamp(0.0, 1.0)
    }
}

/// The remembered emitters (see the module documentation).
#[derive(Debug, Clone)]
pub struct EmitterMemory {
    memory_ns: i64,
    emitters: Vec<Emitter>,
    next_id: u64,
}

impl EmitterMemory {
    /// An empty memory that forgets an emitter `memory_ns` after it was last heard (0: every
    /// transmission is a new emitter).
    pub fn new(memory_ns: i64) -> Self {
        Self {
            memory_ns,
            emitters: Vec::new(),
            next_id: 1,
        }
    }

    /// The remembered emitters, live ones included, in no particular order.
    pub fn emitters(&self) -> &[Emitter] {
        &self.emitters
    }

    /// The emitter of a transmission confirmed at `now_ns` that started at `first_seen_ns`, at
    /// `frequency_hz`, `bandwidth_hz` wide: a remembered idle one that matches, or a new one.
    /// It is live until [`EmitterMemory::release`]d.
    pub fn acquire(
        &mut self,
        frequency_hz: f64,
        bandwidth_hz: f64,
        first_seen_ns: i64,
        now_ns: i64,
    ) -> EmitterLink {
        self.prune(now_ns);
        let memory_ns = self.memory_ns;
        let found = self
            .emitters
            .iter()
            .enumerate()
            .filter(|(_, e)| {
                !e.live && now_ns - e.last_heard_ns <= memory_ns && same(e, frequency_hz, bandwidth_hz)
            })
            .min_by(|(_, a), (_, b)| {
                (a.frequency_hz - frequency_hz)
                    .abs()
                    .total_cmp(&(b.frequency_hz - frequency_hz).abs())
            })
            .map(|(i, _)| i);
        let index = match found {
            Some(index) => index,
            None => self.mint(frequency_hz, bandwidth_hz, first_seen_ns),
        };
        let emitter = &mut self.emitters[index];
        emitter.live = true;
        emitter.activations += 1;
        emitter.frequency_hz = frequency_hz;
        emitter.bandwidth_hz = bandwidth_hz;
        EmitterLink {
            id: emitter.id,
            activations: emitter.activations,
            earlier_on_time_ns: emitter.on_time_ns,
            first_heard_ns: emitter.first_heard_ns,
        }
    }

    /// The transmission of emitter `id` that was heard from `first_seen_ns` to `last_seen_ns`
    /// ended; it was last at `frequency_hz`, `bandwidth_hz` wide. The emitter is idle again and
    /// remembered for the memory's length.
    pub fn release(
        &mut self,
        id: u64,
        frequency_hz: f64,
        bandwidth_hz: f64,
        first_seen_ns: i64,
        last_seen_ns: i64,
    ) {
        if let Some(e) = self.emitters.iter_mut().find(|e| e.id == id) {
            e.live = false;
            e.on_time_ns += (last_seen_ns - first_seen_ns).max(0);
            e.last_heard_ns = e.last_heard_ns.max(last_seen_ns);
            e.frequency_hz = frequency_hz;
            e.bandwidth_hz = bandwidth_hz;
        }
    }

    /// The ids of the idle remembered emitters a transmission at `frequency_hz`,
    /// `bandwidth_hz` wide could be at `now_ns` by frequency and bandwidth, nearest first.
    pub fn candidates(&self, frequency_hz: f64, bandwidth_hz: f64, now_ns: i64, out: &mut Vec<u64>) {
        out.clear();
        let mut found: Vec<&Emitter> = self
            .emitters
            .iter()
            .filter(|e| {
                !e.live && now_ns - e.last_heard_ns <= self.memory_ns && same(e, frequency_hz, bandwidth_hz)
            })
            .collect();
        found.sort_by(|a, b| {
            (a.frequency_hz - frequency_hz)
                .abs()
                .total_cmp(&(b.frequency_hz - frequency_hz).abs())
        });
        out.extend(found.iter().map(|e| e.id));
    }

    /// The live transmission attributed to emitter `id` is not that emitter after all (fusion
    /// found it elsewhere): that emitter is idle again as it was, and the transmission becomes
    /// emitter `to` when that is an idle remembered one (fusion found it where `to` was),
    /// else a new emitter of its own.
    pub fn detach(
        &mut self,
        id: u64,
        to: Option<u64>,
        frequency_hz: f64,
        bandwidth_hz: f64,
        first_seen_ns: i64,
    ) -> EmitterLink {
        if let Some(e) = self.emitters.iter_mut().find(|e| e.id == id) {
            e.live = false;
            e.activations = e.activations.saturating_sub(1);
        }
        let target = to.and_then(|to| self.emitters.iter().position(|e| e.id == to && !e.live));
        let index = match target {
            Some(index) => index,
            None => self.mint(frequency_hz, bandwidth_hz, first_seen_ns),
        };
        let emitter = &mut self.emitters[index];
        emitter.live = true;
        emitter.activations += 1;
        emitter.frequency_hz = frequency_hz;
        emitter.bandwidth_hz = bandwidth_hz;
        EmitterLink {
            id: emitter.id,
            activations: emitter.activations,
            earlier_on_time_ns: emitter.on_time_ns,
            first_heard_ns: emitter.first_heard_ns,
        }
    }

    /// Forgets idle emitters unheard for longer than the memory.
    pub fn prune(&mut self, now_ns: i64) {
        let memory_ns = self.memory_ns;
        self.emitters
            .retain(|e| e.live || now_ns - e.last_heard_ns <= memory_ns);
    }

    /// A new emitter; its index. At [`MAX_EMITTERS`], the least recently heard idle one is
    /// forgotten first (live ones are bounded by the live tracks).
    fn mint(&mut self, frequency_hz: f64, bandwidth_hz: f64, first_seen_ns: i64) -> usize {
        if self.emitters.len() >= MAX_EMITTERS {
            let oldest = self
                .emitters
                .iter()
                .enumerate()
                .filter(|(_, e)| !e.live)
                .min_by_key(|(_, e)| e.last_heard_ns)
                .map(|(i, _)| i);
            if let Some(i) = oldest {
                self.emitters.swap_remove(i);
            }
        }
        let id = self.next_id;
        self.next_id += 1;
        self.emitters.push(Emitter {
            id,
            frequency_hz,
            bandwidth_hz,
            activations: 0,
            on_time_ns: 0,
            first_heard_ns: first_seen_ns,
            last_heard_ns: first_seen_ns,
            live: false,
        });
        self.emitters.len() - 1
    }
}

/// Whether a transmission at `frequency_hz`, `bandwidth_hz` wide is emitter `e` by frequency
/// and bandwidth (see the module documentation).
fn same(e: &Emitter, frequency_hz: f64, bandwidth_hz: f64) -> bool {
    let a = e.bandwidth_hz.max(MIN_COMPARED_BANDWIDTH_HZ);
    let b = bandwidth_hz.max(MIN_COMPARED_BANDWIDTH_HZ);
    let (narrow, wide) = if a < b { (a, b) } else { (b, a) };
    (e.frequency_hz - frequency_hz).abs() < narrow / 2.0 && wide <= BANDWIDTH_RATIO * narrow
}
