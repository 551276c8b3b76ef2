//! An in-memory [`Dns`] for the checks' unit tests (the proofs run against a real server).

use std::collections::HashMap;
use std::net::IpAddr;

use crate::{Answer, Dns, Finding};

/// The codes of `findings`, in order.
pub(crate) fn codes(findings: &[Finding]) -> Vec<&'static str> {
    findings.iter().map(|f| f.code.as_str()).collect()
}

#[derive(Default)]
pub(crate) struct TestDns {
    pub txt: HashMap<String, Answer<Vec<String>>>,
    pub spf_type: HashMap<String, Answer<Vec<String>>>,
    pub ptr: HashMap<IpAddr, Answer<Vec<String>>>,
    pub mx: HashMap<String, Answer<Vec<String>>>,
    pub addresses: HashMap<String, Answer<Vec<IpAddr>>>,
}

impl TestDns {
    pub fn txt(mut self, name: &str, records: &[&str]) -> TestDns {
        let records = records.iter().map(|record| (*record).to_owned()).collect();
        self.txt.insert(name.to_owned(), Answer::Records(records));
        self
    }

    pub fn txt_answer(mut self, name: &str, answer: Answer<Vec<String>>) -> TestDns {
        self.txt.insert(name.to_owned(), answer);
        self
    }

    pub fn spf_type(mut self, name: &str, records: &[&str]) -> TestDns {
        let records = records.iter().map(|record| (*record).to_owned()).collect();
        self.spf_type
            .insert(name.to_owned(), Answer::Records(records));
        self
    }

    pub fn ptr(mut self, ip: &str, names: &[&str]) -> TestDns {
        let names = names.iter().map(|name| (*name).to_owned()).collect();
        self.ptr.insert(ip.parse().unwrap(), Answer::Records(names));
        self
    }

    pub fn address(mut self, name: &str, ip: &str) -> TestDns {
        let ip: IpAddr = ip.parse().unwrap();
        self.addresses
            .insert(name.to_owned(), Answer::Records(vec![ip]));
        self
    }
}

impl Dns for TestDns {
    fn txt(&self, name: &str) -> Answer<Vec<String>> {
        self.txt.get(name).cloned().unwrap_or(Answer::NoRecords)
    }

    fn spf_type(&self, name: &str) -> Answer<Vec<String>> {
        self.spf_type
            .get(name)
            .cloned()
            .unwrap_or(Answer::NoRecords)
    }

    fn ptr(&self, ip: IpAddr) -> Answer<Vec<String>> {
        self.ptr.get(&ip).cloned().unwrap_or(Answer::NoRecords)
    }

    fn mx(&self, name: &str) -> Answer<Vec<String>> {
        self.mx.get(name).cloned().unwrap_or(Answer::NoRecords)
    }

    fn addresses(&self, name: &str) -> Answer<Vec<IpAddr>> {
        self.addresses
            .get(name)
            .cloned()
            .unwrap_or(Answer::NoRecords)
    }
}
