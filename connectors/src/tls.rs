//! The rustls client configuration shared by the mail connectors: the
//! webpki roots plus, optionally, a private certificate authority (PEM) —
//! with the ring provider, the one every crate of the build uses.

use tokio_rustls::rustls;

/// A client configuration trusting the public roots and `ca_pem` when given.
pub fn client_config(ca_pem: Option<&[u8]>) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(pem) = ca_pem {
        use rustls_pki_types::pem::PemObject;
        for cert in rustls_pki_types::CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| format!("ca_file: {e}"))?;
            roots.add(cert).map_err(|e| format!("ca_file: {e}"))?;
        }
    }
    Ok(rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth())
}

/// Reads the PEM file of a private certificate authority named in settings
/// (`ca_file`, relative to the tenant file); `None` when none is named.
pub fn read_ca(base_dir: &std::path::Path, ca_file: Option<&std::path::PathBuf>) -> Result<Option<Vec<u8>>, String> {
    let Some(p) = ca_file else { return Ok(None) };
    let path = relance_config::join_clean(base_dir, p);
    std::fs::read(&path).map(Some).map_err(|e| format!("cannot read {}: {e}", path.display()))
}
