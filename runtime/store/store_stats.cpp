// Store counters: the share of one job in a store several jobs use.
#include "runtime/store/parameter_store.hpp"

namespace emnist {

store_stats stats_between(const store_stats& before, const store_stats& after) {
  // Counters only grow; a reading taken while another job's pushes landed
  // may still see one counter ahead of another, hence the clamp.
  auto d = [](std::uint64_t a, std::uint64_t b) {
    return b > a ? b - a : 0;
  };
  store_stats s;
  s.pushes = d(before.pushes, after.pushes);
  s.pushes_applied = d(before.pushes_applied, after.pushes_applied);
  s.fetches = d(before.fetches, after.fetches);
  s.bytes_sent = d(before.bytes_sent, after.bytes_sent);
  s.bytes_received = d(before.bytes_received, after.bytes_received);
  s.cas_retries = d(before.cas_retries, after.cas_retries);
  s.blocks_restored = d(before.blocks_restored, after.blocks_restored);
  s.fetches_not_modified =
      d(before.fetches_not_modified, after.fetches_not_modified);
  s.servers_failed_over =
      d(before.servers_failed_over, after.servers_failed_over);
  s.push_reads_skipped = d(before.push_reads_skipped, after.push_reads_skipped);
  s.push_blocks_combined =
      d(before.push_blocks_combined, after.push_blocks_combined);
  s.pushes_held = d(before.pushes_held, after.pushes_held);
  s.fetches_local = d(before.fetches_local, after.fetches_local);
  s.views_checked = d(before.views_checked, after.views_checked);
  s.views_refreshed = d(before.views_refreshed, after.views_refreshed);
  s.server_retries = d(before.server_retries, after.server_retries);
  return s;
}

}  // namespace emnist
