//! Blob storage for attachments (filesystem default, S3-compatible). Written by issue #4.
