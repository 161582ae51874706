// Wire protocol messages and codec.
