//! The browser bundle (`/pkg/*`): compressed once at start-up (brotli 11, gzip 9) and served
//! from memory, instead of compressed again, less tightly, on every request.

use std::{
    collections::HashMap,
    io::Write,
    path::{Path, PathBuf},
    sync::{Arc, RwLock},
};

use axum::{
    body::{Body, Bytes},
    extract::{Path as UrlPath, Request, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use tower::ServiceExt;
use tower_http::services::ServeDir;

use super::AppState;

struct Asset {
    raw: Bytes,
    brotli: Bytes,
    gzip: Bytes,
    content_type: &'static str,
    etag: HeaderValue,
}

/// The compressed bundle; empty until the start-up task has filled it.
#[derive(Clone, Default)]
pub struct Assets {
    files: Arc<RwLock<HashMap<String, Arc<Asset>>>>,
}

fn content_type(name: &str) -> Option<&'static str> {
    match Path::new(name).extension()?.to_str()? {
        "wasm" => Some("application/wasm"),
        "js" => Some("text/javascript; charset=utf-8"),
        "css" => Some("text/css; charset=utf-8"),
        _ => None,
    }
}

fn compress(raw: &[u8]) -> std::io::Result<(Vec<u8>, Vec<u8>)> {
    let mut brotli = Vec::new();
    {
        // Best compression for a release bundle (under 1 MB, a second or two); a debug build's
        // multi-megabyte wasm gets a quicker setting.
        let quality = if raw.len() > 2 * 1024 * 1024 { 5 } else { 11 };
        let mut writer = brotli::CompressorWriter::new(&mut brotli, 64 * 1024, quality, 22);
        writer.write_all(raw)?;
    }
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gzip.write_all(raw)?;
    Ok((brotli, gzip.finish()?))
}

impl Assets {
    /// Compress every wasm, js and css file in `pkg_dir` on a thread of its own (not tokio's
    /// blocking pool, which a runtime waits for when it shuts down).
    pub fn load_in_background(&self, pkg_dir: PathBuf) {
        let files = self.files.clone();
        let spawned = std::thread::Builder::new().name("onair-assets".into()).spawn(move || {
            let Ok(entries) = std::fs::read_dir(&pkg_dir) else {
                tracing::warn!(dir = %pkg_dir.display(), "no browser bundle found: run `make build`");
                return;
            };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let Some(content_type) = content_type(&name) else {
                    continue;
                };
                let loaded = std::fs::read(entry.path()).and_then(|raw| {
                    let (brotli, gzip) = compress(&raw)?;
                    Ok((raw, brotli, gzip))
                });
                match loaded {
                    Ok((raw, brotli, gzip)) => {
                        let etag = format!("\"{:x}-{:x}\"", raw.len(), fingerprint(&raw));
                        let asset = Asset {
                            raw: raw.into(),
                            brotli: brotli.into(),
                            gzip: gzip.into(),
                            content_type,
                            etag: HeaderValue::from_str(&etag)
                                .unwrap_or(HeaderValue::from_static("\"0\"")),
                        };
                        if let Ok(mut files) = files.write() {
                            files.insert(name, Arc::new(asset));
                        }
                    }
                    Err(err) => tracing::warn!(%err, file = %name, "could not load a bundle file"),
                }
            }
        });
        if let Err(err) = spawned {
            tracing::warn!(%err, "serving the bundle uncompressed: no thread to compress it");
        }
    }

    fn get(&self, name: &str) -> Option<Arc<Asset>> {
        self.files.read().ok()?.get(name).cloned()
    }
}

/// FNV-1a: a cheap content fingerprint for the ETag.
fn fingerprint(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn accepts(headers: &HeaderMap, coding: &str) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|item| {
            let mut parts = item.trim().split(';');
            parts.next() == Some(coding) && parts.all(|param| param.trim() != "q=0")
        })
}

/// `GET /pkg/{file}`: from memory when loaded, else straight from disk.
pub async fn serve(
    State(state): State<AppState>,
    UrlPath(file): UrlPath<String>,
    request: Request,
) -> Response {
    let Some(asset) = state.assets.get(&file) else {
        let pkg =
            Path::new(&*state.leptos_options.site_root).join(&*state.leptos_options.site_pkg_dir);
        let mut request = request;
        *request.uri_mut() = format!("/{file}").parse().unwrap_or_default();
        return match ServeDir::new(pkg).oneshot(request).await {
            Ok(response) => response.into_response(),
            Err(never) => match never {},
        };
    };
    let headers = request.headers();
    // Names are not content-hashed: caches must check back, and a 304 costs nothing.
    let mut response = if headers.get(header::IF_NONE_MATCH) == Some(&asset.etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let (body, coding) = if accepts(headers, "br") {
            (asset.brotli.clone(), Some("br"))
        } else if accepts(headers, "gzip") {
            (asset.gzip.clone(), Some("gzip"))
        } else {
            (asset.raw.clone(), None)
        };
        let mut response = Response::new(Body::from(body));
        if let Some(coding) = coding {
            response
                .headers_mut()
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding));
        }
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        );
        response
    };
    let headers = response.headers_mut();
    headers.insert(header::ETAG, asset.etag.clone());
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_encoding_is_parsed_with_weights() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT_ENCODING,
            "gzip, deflate, br;q=0".parse().unwrap(),
        );
        assert!(accepts(&headers, "gzip"));
        assert!(!accepts(&headers, "br"));
        headers.insert(header::ACCEPT_ENCODING, "br;q=1.0, gzip".parse().unwrap());
        assert!(accepts(&headers, "br"));
    }

    #[test]
    fn compression_round_trips() {
        let raw = b"onair ".repeat(1000);
        let (brotli, gzip) = compress(&raw).unwrap();
        assert!(brotli.len() < raw.len() / 10 && gzip.len() < raw.len() / 10);
        let mut unzipped = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gzip[..]), &mut unzipped)
            .unwrap();
        assert_eq!(unzipped, raw);
    }
}
