//! A minimal synchronous IMAP client for setting up tests (LOGIN, APPEND,
//! STATUS, CREATE, DELETE) against the Dovecot started by scripts/test.sh.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

/// The test server's plaintext port, or `None` (tests then skip with a note).
pub fn port() -> Option<u16> {
    let port = std::env::var("TEST_IMAP_PORT").ok().and_then(|p| p.parse().ok());
    if port.is_none() {
        super::server_missing("IMAP test");
    }
    port
}

pub struct Imap {
    reader: BufReader<TcpStream>,
    tag: u32,
}

impl Imap {
    pub fn login(port: u16, user: &str, password: &str) -> Imap {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the test IMAP server");
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut c = Imap { reader: BufReader::new(s), tag: 0 };
        let mut greeting = String::new();
        c.reader.read_line(&mut greeting).unwrap();
        c.cmd(&format!("LOGIN \"{user}\" \"{password}\""));
        c
    }

    /// Runs a command; returns the untagged lines. Panics unless it ends OK.
    pub fn cmd(&mut self, command: &str) -> Vec<String> {
        self.tag += 1;
        let tag = format!("t{}", self.tag);
        write!(self.reader.get_mut(), "{tag} {command}\r\n").unwrap();
        self.finish(&tag)
    }

    fn finish(&mut self, tag: &str) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line).unwrap();
            if line.starts_with(&format!("{tag} ")) {
                assert!(line.starts_with(&format!("{tag} OK")), "IMAP: {line}");
                return lines;
            }
            lines.push(line);
        }
    }

    pub fn append(&mut self, mailbox: &str, message: &[u8]) {
        self.tag += 1;
        let tag = format!("t{}", self.tag);
        write!(self.reader.get_mut(), "{tag} APPEND \"{mailbox}\" {{{}}}\r\n", message.len()).unwrap();
        let mut cont = String::new();
        self.reader.read_line(&mut cont).unwrap();
        assert!(cont.starts_with('+'), "IMAP APPEND: {cont}");
        self.reader.get_mut().write_all(message).unwrap();
        self.reader.get_mut().write_all(b"\r\n").unwrap();
        self.finish(&tag);
    }

    /// Number of messages in a mailbox (0 when it does not exist).
    pub fn count(&mut self, mailbox: &str) -> u32 {
        self.tag += 1;
        let tag = format!("t{}", self.tag);
        write!(self.reader.get_mut(), "{tag} STATUS \"{mailbox}\" (MESSAGES)\r\n").unwrap();
        let mut n = 0;
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line).unwrap();
            if let Some(i) = line.find("MESSAGES ") {
                n = line[i + 9..].trim_end_matches(|c: char| !c.is_ascii_digit()).parse().unwrap_or(0);
            }
            if line.starts_with(&format!("{tag} ")) {
                return n;
            }
        }
    }
}

/// A reply as a customer's mail client would send it.
pub fn reply(n: u32, subject: &str, text: &str) -> Vec<u8> {
    format!(
        "From: client{n}@client.example\r\nTo: collections@tenant-a.test\r\nSubject: {subject}\r\nDate: Thu, 08 Oct 2026 14:12:00 +0200\r\nMessage-ID: <r{n}.{}@client.example>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n\r\nLe mar. 6 oct. 2026 à 08:30, Relances <relances@fournisseur.example> a écrit :\r\n> Merci de régler la facture ou de nous dire si vous la contestez.\r\n",
        std::process::id()
    )
    .into_bytes()
}
