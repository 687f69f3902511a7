mod checksum;
mod netlink_features;
