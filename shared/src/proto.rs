//! Types generated from `proto/` by prost. The `.proto` files are the only
//! contract between services.
#![allow(clippy::all, missing_docs)]

pub mod common {
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/common.v1.rs"));
    }
}
pub mod chat {
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/chat.v1.rs"));
    }
}
pub mod feed {
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/feed.v1.rs"));
    }
}
pub mod presence {
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/presence.v1.rs"));
    }
}
pub mod gateway {
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/gateway.v1.rs"));
    }
}
