// Settings described once: a struct's `describe(visitor)` calls the visitor once per setting with
// its flag, its record key, its range and its help. The CLI's flags (cli/flags.h), validation, a
// run's record and the resume check are visitors, so they are generated from one description
// and cannot drift apart (train/options.h, model/run_options.h).
//
// A visitor has the methods
//   integer(flag, key, I& value, I lo, I hi, OnResume, help)
//   real(flag, key, double& value, Bounds, OnResume, help)
//   text(flag, key, std::string& value, bool required, OnResume, help)
//   texts(flag, key, std::vector<std::string>& value, bool required, OnResume, help)
//   choice(flag, key, E& value, const std::vector<std::pair<std::string, E>>& names, OnResume, help)
//   flag(flag, key, bool& value, bool when_given, OnResume, help)
// A null flag: no command-line flag (set by a launcher); a null key: not part of a run's record
// (and so never compared on resume).
#pragma once

namespace rho {

// Whether a resumed run may change a setting. Everything that decides what the model learns
// from (data, objective, selection, reference, batch shape, optimizer) must stay: a resume that
// changed it would continue a different method under the old run's name. Steps may grow (a run
// is extended); logging, checkpoint cadence and threads are the user's to change.
enum class OnResume { Same, MayChange };

}  // namespace rho
