//! [`Dns`] over the project's resolver ([`ruadb_dns::Resolver`]), every question bounded by one
//! deadline for the whole run.

use std::net::IpAddr;
use std::time::Instant;

use crate::{Answer, Dns};

/// Live DNS: the resolver's answers until `deadline`, [`Answer::TimedOut`] after it.
pub struct LiveDns<'a> {
    resolver: &'a ruadb_dns::Resolver,
    deadline: Instant,
}

impl<'a> LiveDns<'a> {
    /// Asks `resolver`, nothing after `deadline`.
    pub fn new(resolver: &'a ruadb_dns::Resolver, deadline: Instant) -> LiveDns<'a> {
        LiveDns { resolver, deadline }
    }
}

impl Dns for LiveDns<'_> {
    fn txt(&self, name: &str) -> Answer<Vec<String>> {
        self.resolver.txt(name, self.deadline)
    }

    fn spf_type(&self, name: &str) -> Answer<Vec<String>> {
        self.resolver.spf_type(name, self.deadline)
    }

    fn mx(&self, name: &str) -> Answer<Vec<String>> {
        self.resolver.mx(name, self.deadline)
    }

    fn addresses(&self, name: &str) -> Answer<Vec<IpAddr>> {
        self.resolver.addresses(name, self.deadline)
    }

    fn ptr(&self, ip: IpAddr) -> Answer<Vec<String>> {
        self.resolver.ptr(ip, self.deadline)
    }
}
