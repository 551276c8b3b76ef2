//! Who sends mail as the policy domain: the scenario of a record and its source address.

use crate::rng::Rng;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Which addresses the generator may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IpSpace {
    /// Only the documentation ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24,
    /// 2001:db8::/32): safe for anything that is written down or committed.
    #[default]
    Documentation,
    /// Public-looking unicast addresses (no private, reserved or documentation ranges):
    /// realistic cardinality for benchmarks; never commit output made with it.
    Public,
}

/// What kind of mail a record describes. The mix decides how many rows pass DMARC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// The domain's own servers: DKIM and SPF pass and align.
    Aligned,
    /// An ESP signing with the domain's key: DKIM aligned, SPF passes for the ESP's bounce domain.
    EspAligned,
    /// Forwarded or mailing-list mail: SPF fails, DKIM survives most of the time.
    Forwarded,
    /// An ESP set up without the domain's key: both pass, neither aligns.
    EspMisaligned,
    /// Someone else using the domain: nothing passes.
    Spoofed,
}

/// What the reporter concludes about a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// `policy_evaluated/dkim` is pass.
    pub dkim_aligned: bool,
    /// `policy_evaluated/spf` is pass.
    pub spf_aligned: bool,
}

impl Scenario {
    const ALL: [Scenario; 5] = [
        Scenario::Aligned,
        Scenario::EspAligned,
        Scenario::Forwarded,
        Scenario::EspMisaligned,
        Scenario::Spoofed,
    ];
    const WEIGHTS: [u32; 5] = [55, 10, 12, 8, 15];

    /// A scenario with the corpus-wide mix.
    pub fn draw(rng: &mut Rng) -> Scenario {
        Scenario::ALL[rng.weighted(&Scenario::WEIGHTS)]
    }

    /// The reporter's verdict. Forwarded mail keeps its DKIM signature four times in five.
    pub fn outcome(self, rng: &mut Rng) -> Outcome {
        match self {
            Scenario::Aligned => Outcome {
                dkim_aligned: true,
                spf_aligned: true,
            },
            Scenario::EspAligned => Outcome {
                dkim_aligned: true,
                spf_aligned: false,
            },
            Scenario::Forwarded => Outcome {
                dkim_aligned: rng.chance(0.8),
                spf_aligned: false,
            },
            Scenario::EspMisaligned | Scenario::Spoofed => Outcome {
                dkim_aligned: false,
                spf_aligned: false,
            },
        }
    }

    /// `<count>`: mostly 1; legitimate bulk senders reach thousands, spoofers rarely do.
    pub fn message_count(self, rng: &mut Rng) -> u64 {
        if rng.chance(0.55) {
            return 1;
        }
        let top = match self {
            Scenario::Aligned => 1_000,
            Scenario::EspAligned | Scenario::EspMisaligned => 2_000,
            Scenario::Forwarded => 50,
            Scenario::Spoofed => 20,
        };
        rng.log_uniform(2, top)
    }
}

/// Where the source address of a record comes from.
pub(crate) trait PickSource {
    /// The source address of one record of `scenario`.
    fn pick(&self, scenario: Scenario, rng: &mut Rng) -> IpAddr;
}

/// Addresses per scenario, drawn once per corpus so the same senders recur across reports,
/// as they do in a real mailbox.
#[derive(Debug, Clone)]
pub struct SourcePool {
    space: IpSpace,
    own: Vec<IpAddr>,
    esp: Vec<IpAddr>,
    forwarders: Vec<IpAddr>,
}

impl SourcePool {
    /// A pool of a realistic size: a handful of own servers, hundreds of ESP and thousands of
    /// forwarder addresses; spoofing sources are fresh every time.
    pub fn new(space: IpSpace, rng: &mut Rng) -> SourcePool {
        let mut draw = |count: usize, v6_share: f64| -> Vec<IpAddr> {
            (0..count)
                .map(|_| random_address(space, rng, v6_share))
                .collect()
        };
        SourcePool {
            space,
            own: draw(8, 0.25),
            esp: draw(300, 0.2),
            forwarders: draw(3_000, 0.15),
        }
    }
}

impl PickSource for SourcePool {
    fn pick(&self, scenario: Scenario, rng: &mut Rng) -> IpAddr {
        match scenario {
            Scenario::Aligned => *rng.pick(&self.own),
            Scenario::EspAligned | Scenario::EspMisaligned => *rng.pick(&self.esp),
            Scenario::Forwarded => *rng.pick(&self.forwarders),
            Scenario::Spoofed => random_address(self.space, rng, 0.1),
        }
    }
}

/// One address from `space`; IPv6 with probability `v6_share`.
pub fn random_address(space: IpSpace, rng: &mut Rng, v6_share: f64) -> IpAddr {
    let v6 = rng.chance(v6_share);
    match (space, v6) {
        (IpSpace::Documentation, false) => {
            let prefix = rng.pick(&[[192, 0, 2], [198, 51, 100], [203, 0, 113]]);
            let host = rng.between(1, 254) as u8;
            IpAddr::V4(Ipv4Addr::new(prefix[0], prefix[1], prefix[2], host))
        }
        (IpSpace::Documentation, true) => {
            let bits = rng.next_u64();
            IpAddr::V6(Ipv6Addr::new(
                0x2001,
                0xdb8,
                (bits >> 48) as u16,
                (bits >> 32) as u16,
                0,
                0,
                (bits >> 16) as u16,
                bits as u16 | 1,
            ))
        }
        (IpSpace::Public, false) => loop {
            let candidate = Ipv4Addr::from(rng.next_u64() as u32);
            if is_public_v4(candidate) {
                break IpAddr::V4(candidate);
            }
        },
        (IpSpace::Public, true) => {
            let bits = rng.next_u64();
            // 2a00::/12 holds most European allocations; any global unicast would do.
            IpAddr::V6(Ipv6Addr::new(
                0x2a00 | (bits >> 52) as u16 & 0x0fff,
                (bits >> 36) as u16,
                (bits >> 20) as u16,
                0,
                0,
                0,
                0,
                bits as u16 | 1,
            ))
        }
    }
}

fn is_public_v4(address: Ipv4Addr) -> bool {
    let [a, b, c, _] = address.octets();
    !(a == 0
        || a == 10
        || a == 127
        || a >= 224
        || (a == 100 && (64..128).contains(&b))
        || (a == 169 && b == 254)
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 168)
        || (a == 192 && b == 0 && (c == 0 || c == 2))
        || (a == 198 && (b == 18 || b == 19))
        || (a == 198 && b == 51 && c == 100)
        || (a == 203 && b == 0 && c == 113))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documentation_space_stays_in_documentation_ranges() {
        let mut rng = Rng::new(3);
        for _ in 0..2_000 {
            match random_address(IpSpace::Documentation, &mut rng, 0.5) {
                IpAddr::V4(v4) => {
                    let [a, b, c, _] = v4.octets();
                    assert!(
                        [[192, 0, 2], [198, 51, 100], [203, 0, 113]].contains(&[a, b, c]),
                        "{v4}"
                    );
                }
                IpAddr::V6(v6) => assert_eq!(&v6.segments()[..2], &[0x2001, 0xdb8], "{v6}"),
            }
        }
    }

    #[test]
    fn public_space_avoids_private_and_reserved_ranges() {
        let mut rng = Rng::new(4);
        for _ in 0..5_000 {
            if let IpAddr::V4(v4) = random_address(IpSpace::Public, &mut rng, 0.0) {
                assert!(
                    !v4.is_private() && !v4.is_loopback() && !v4.is_documentation(),
                    "{v4}"
                );
                assert!(!v4.is_multicast() && !v4.is_link_local() && !v4.is_unspecified());
            }
        }
    }
}
