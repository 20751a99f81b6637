//! Which addresses a connector may reach: public unicast only. Everything that leads to this machine,
//! a private network, a cloud metadata service, or an IPv4 address hidden inside an IPv6 one (mapped,
//! compatible, NAT64, 6to4) is classified here, by address alone: no connection is ever needed to decide.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressClass {
    Public,
    Loopback,
    /// A private network (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7): refused unless a policy allows it.
    Private,
    /// Never reachable; the reason is for the message that says so.
    Forbidden(&'static str),
}

pub fn classify(ip: IpAddr) -> AddressClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], bits: u32) -> bool {
    let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
    (u32::from(ip) & mask) == (u32::from(Ipv4Addr::from(net)) & mask)
}

fn classify_v4(ip: Ipv4Addr) -> AddressClass {
    use AddressClass::{Forbidden, Loopback, Public};
    if in_v4(ip, [127, 0, 0, 0], 8) {
        return Loopback;
    }
    for (net, bits) in [([10, 0, 0, 0], 8), ([172, 16, 0, 0], 12), ([192, 168, 0, 0], 16), ([100, 64, 0, 0], 10)] {
        if in_v4(ip, net, bits) {
            return AddressClass::Private;
        }
    }
    let table: &[([u8; 4], u32, &'static str)] = &[
        ([0, 0, 0, 0], 8, "an unspecified (\"this network\") address"),
        ([169, 254, 0, 0], 16, "a link-local address (cloud metadata services live there)"),
        ([192, 0, 0, 0], 24, "an IETF protocol assignment address"),
        ([192, 0, 2, 0], 24, "a documentation address"),
        ([198, 51, 100, 0], 24, "a documentation address"),
        ([203, 0, 113, 0], 24, "a documentation address"),
        ([198, 18, 0, 0], 15, "a benchmarking address"),
        ([224, 0, 0, 0], 4, "a multicast address"),
        ([240, 0, 0, 0], 4, "a reserved address"),
    ];
    for (net, bits, why) in table {
        if in_v4(ip, *net, *bits) {
            return Forbidden(why);
        }
    }
    Public
}

fn in_v6(ip: Ipv6Addr, net: [u16; 8], bits: u32) -> bool {
    let mask = if bits == 0 { 0 } else { u128::MAX << (128 - bits) };
    (u128::from(ip) & mask) == (u128::from(Ipv6Addr::from(net)) & mask)
}

/// The IPv4 address in bits `at..at+32` (from the left) of an IPv6 address.
fn embedded_v4(ip: Ipv6Addr, at: u32) -> Ipv4Addr {
    Ipv4Addr::from(((u128::from(ip) >> (96 - at)) & 0xffff_ffff) as u32)
}

/// An IPv4 address tunnelled in IPv6 may be used only where the IPv4 address itself is public.
fn tunnelled(v4: Ipv4Addr) -> AddressClass {
    classify_v4(v4)
}

fn classify_v6(ip: Ipv6Addr) -> AddressClass {
    use AddressClass::{Forbidden, Loopback, Public};
    if in_v6(ip, [0xfc00, 0, 0, 0, 0, 0, 0, 0], 7) {
        return AddressClass::Private;
    }
    if ip == Ipv6Addr::LOCALHOST {
        return Loopback;
    }
    if ip == Ipv6Addr::UNSPECIFIED {
        return Forbidden("an unspecified address");
    }
    // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible, deprecated).
    if in_v6(ip, [0, 0, 0, 0, 0, 0xffff, 0, 0], 96) || in_v6(ip, [0; 8], 96) {
        return tunnelled(embedded_v4(ip, 96));
    }
    if in_v6(ip, [0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96) {
        return tunnelled(embedded_v4(ip, 96));
    }
    if in_v6(ip, [0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48) {
        return Forbidden("a local-use NAT64 address");
    }
    if in_v6(ip, [0x2002, 0, 0, 0, 0, 0, 0, 0], 16) {
        return match tunnelled(embedded_v4(ip, 16)) {
            Public => Public,
            _ => Forbidden("a 6to4 address of a non-public IPv4 address"),
        };
    }
    let table: &[([u16; 8], u32, &'static str)] = &[
        ([0x0100, 0, 0, 0, 0, 0, 0, 0], 64, "a discard-only address"),
        ([0x2001, 0x0db8, 0, 0, 0, 0, 0, 0], 32, "a documentation address"),
        ([0x2001, 0x0020, 0, 0, 0, 0, 0, 0], 28, "an ORCHID address"),
        ([0x2001, 0, 0, 0, 0, 0, 0, 0], 32, "a Teredo address"),
        ([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10, "a link-local address"),
        ([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10, "a site-local address"),
        ([0xff00, 0, 0, 0, 0, 0, 0, 0], 8, "a multicast address"),
    ];
    for (net, bits, why) in table {
        if in_v6(ip, *net, *bits) {
            return Forbidden(why);
        }
    }
    Public
}

#[cfg(test)]
mod tests {
    use super::*;
    use AddressClass::{Loopback, Public};

    fn class(s: &str) -> AddressClass {
        classify(s.parse().unwrap())
    }

    /// Refused by a policy that allows neither loopback nor private networks.
    fn forbidden(s: &str) -> bool {
        matches!(class(s), AddressClass::Forbidden(_) | AddressClass::Private)
    }

    #[test]
    fn private_and_special_ipv4_is_forbidden() {
        for a in [
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.10",
            "198.18.0.1",
            "240.0.0.1",
        ] {
            assert!(forbidden(a), "{a}");
        }
        assert_eq!(class("172.32.0.1"), Public);
        assert_eq!(class("10.0.0.1"), AddressClass::Private);
        assert_eq!(class("192.168.1.1"), AddressClass::Private);
        assert!(matches!(class("169.254.169.254"), AddressClass::Forbidden(_)), "metadata is never private-allowed");
        assert_eq!(class("8.8.8.8"), Public);
        assert_eq!(class("1.1.1.1"), Public);
        assert_eq!(class("127.0.0.1"), Loopback);
        assert_eq!(class("127.8.9.10"), Loopback);
    }

    #[test]
    fn ipv6_and_ipv4_hidden_in_it() {
        assert_eq!(class("::1"), Loopback);
        assert_eq!(class("::ffff:127.0.0.1"), Loopback);
        assert!(forbidden("::ffff:169.254.169.254"));
        assert!(forbidden("::ffff:10.0.0.1"));
        assert!(forbidden("fd00::1"));
        assert!(forbidden("fe80::1"));
        assert!(forbidden("fec0::1"));
        assert!(forbidden("ff02::1"));
        assert!(forbidden("::"));
        assert!(forbidden("64:ff9b::a9fe:a9fe"));
        assert_eq!(class("64:ff9b::808:808"), Public);
        assert!(forbidden("64:ff9b:1::1"));
        assert!(forbidden("2002:a9fe:a9fe::"));
        assert!(forbidden("2002:7f00:1::"));
        assert_eq!(class("2002:0808:0808::"), Public);
        assert!(forbidden("2001:db8::1"));
        assert!(forbidden("2001::1"));
        assert!(forbidden("100::1"));
        assert_eq!(class("2606:4700::1111"), Public);
    }

    #[test]
    fn odd_spellings_are_normalised_by_the_url_parser_then_classified() {
        for (u, want_loopback) in [
            ("http://2130706433/", true),
            ("http://0x7f.1/", true),
            ("http://0177.0.0.1/", true),
            ("http://[::ffff:7f00:1]/", true),
            ("http://0xa9fea9fe/", false),
        ] {
            let url = url::Url::parse(u).unwrap();
            let ip: IpAddr = match url.host().unwrap() {
                url::Host::Ipv4(v4) => v4.into(),
                url::Host::Ipv6(v6) => v6.into(),
                url::Host::Domain(d) => panic!("{u} parsed as the name {d}"),
            };
            if want_loopback {
                assert_eq!(classify(ip), Loopback, "{u}");
            } else {
                assert!(matches!(classify(ip), AddressClass::Forbidden(_) | AddressClass::Private), "{u}");
            }
        }
    }
}
