//! `GET /qr.svg?text=…`: a QR code of a watch link, for phones in the audience to scan off
//! the broadcaster's screen.

use std::collections::HashMap;

use axum::{
    extract::Query,
    http::{header, StatusCode},
    response::{IntoResponse, Response},
};
use qrcode::{render::svg, QrCode};

use crate::protocol::paths::MAX_QR_BYTES;

pub async fn qr_code(Query(query): Query<HashMap<String, String>>) -> Response {
    let Some(text) = query.get("text").filter(|text| !text.is_empty()) else {
        return (StatusCode::BAD_REQUEST, "say what to encode: ?text=…").into_response();
    };
    if text.len() > MAX_QR_BYTES {
        return (
            StatusCode::BAD_REQUEST,
            format!(
                "the text is {} bytes; a QR code here holds at most {MAX_QR_BYTES}",
                text.len()
            ),
        )
            .into_response();
    }
    match QrCode::new(text.as_bytes()) {
        Ok(code) => {
            let image = code
                .render::<svg::Color<'_>>()
                .min_dimensions(200, 200)
                .quiet_zone(true)
                .build();
            (
                [
                    (header::CONTENT_TYPE, "image/svg+xml"),
                    (header::CACHE_CONTROL, "public, max-age=86400"),
                ],
                image,
            )
                .into_response()
        }
        Err(err) => (
            StatusCode::BAD_REQUEST,
            format!("no QR code for that text: {err}"),
        )
            .into_response(),
    }
}
