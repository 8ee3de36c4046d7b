//! Uploaded files: the bytes a job works on (the import modal's file).
//!
//! An upload is streamed to a `.part` file in the uploads folder, hashed on the way, and
//! renamed to its id once complete; any failure (too large, the client gone) removes the
//! partial file, and start-up removes any a crash left. The store keeps what the API reports
//! about each upload; the app's sweep (`app.rs`) removes uploads no job refers to after a while.

use std::io;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

/// Where uploads live and how large one may be.
#[derive(Debug, Clone)]
pub struct Uploads {
    dir: PathBuf,
    max_bytes: u64,
}

/// A file received in full.
#[derive(Debug, Clone)]
pub struct Received {
    pub id: String,
    pub size: u64,
    pub sha256: String,
}

#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("the upload is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("the upload was interrupted: {0}")]
    Body(String),
    #[error("cannot store the upload")]
    Io(#[from] io::Error),
}

/// A file being written; removed on drop unless kept.
struct PartFile {
    path: PathBuf,
    kept: bool,
}

impl Drop for PartFile {
    fn drop(&mut self) {
        if !self.kept {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl Uploads {
    /// Opens the uploads folder (creating it), removing partial files a crash left behind.
    pub fn open(dir: PathBuf, max_bytes: u64) -> io::Result<Uploads> {
        std::fs::create_dir_all(&dir)?;
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "part") {
                std::fs::remove_file(&path)?;
            }
        }
        Ok(Uploads { dir, max_bytes })
    }

    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// Where upload `id`'s bytes are.
    pub fn path(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    /// Streams `body` to disk under a new id, at most `max_bytes`, hashing as it goes.
    pub async fn receive<E: std::fmt::Display>(
        &self,
        mut body: impl Stream<Item = Result<Bytes, E>> + Unpin,
    ) -> Result<Received, UploadError> {
        let id = uuid::Uuid::now_v7().to_string();
        let mut part = PartFile {
            path: self.dir.join(format!("{id}.part")),
            kept: false,
        };
        let mut file = tokio::fs::File::create(&part.path).await?;
        let mut hasher = Sha256::new();
        let mut size: u64 = 0;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| UploadError::Body(e.to_string()))?;
            size += chunk.len() as u64;
            if size > self.max_bytes {
                return Err(UploadError::TooLarge {
                    limit: self.max_bytes,
                });
            }
            hasher.update(&chunk);
            file.write_all(&chunk).await?;
        }
        file.sync_all().await?;
        drop(file);
        tokio::fs::rename(&part.path, self.path(&id)).await?;
        part.kept = true;
        Ok(Received {
            id,
            size,
            sha256: hex::encode(hasher.finalize()),
        })
    }

    /// Removes the files of these uploads (their rows are already gone).
    pub fn remove(&self, ids: &[String]) {
        for id in ids {
            if is_upload_id(id) {
                let _ = std::fs::remove_file(self.path(id));
            }
        }
    }
}

/// Upload ids are UUIDs; anything else never names a file.
pub fn is_upload_id(id: &str) -> bool {
    uuid::Uuid::parse_str(id).is_ok()
}

/// The default uploads folder: `uploads/` next to the database file.
pub fn default_dir(database_file: &Path) -> PathBuf {
    database_file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .join("uploads")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(parts: &[&'static [u8]]) -> impl Stream<Item = Result<Bytes, String>> + Unpin {
        futures_util::stream::iter(
            parts
                .iter()
                .map(|p| Ok(Bytes::from_static(p)))
                .collect::<Vec<_>>(),
        )
    }

    #[tokio::test]
    async fn a_complete_upload_is_stored_under_its_id_with_its_hash() {
        let dir = tempfile::tempdir().unwrap();
        let uploads = Uploads::open(dir.path().join("u"), 100).unwrap();
        let got = uploads
            .receive(chunks(&[b"hello ", b"world"]))
            .await
            .unwrap();
        assert_eq!(got.size, 11);
        assert_eq!(
            got.sha256,
            "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
        );
        assert_eq!(
            std::fs::read(uploads.path(&got.id)).unwrap(),
            b"hello world"
        );
    }

    #[tokio::test]
    async fn a_too_large_or_broken_upload_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let uploads = Uploads::open(dir.path().join("u"), 8).unwrap();
        assert!(matches!(
            uploads.receive(chunks(&[b"12345", b"67890"])).await,
            Err(UploadError::TooLarge { limit: 8 })
        ));
        let broken = futures_util::stream::iter(vec![Ok(Bytes::from_static(b"ab")), Err("reset")]);
        assert!(matches!(
            uploads.receive(broken).await,
            Err(UploadError::Body(_))
        ));
        assert_eq!(std::fs::read_dir(dir.path().join("u")).unwrap().count(), 0);
    }
}
