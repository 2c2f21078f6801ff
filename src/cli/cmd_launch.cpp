// rho launch: N processes of one rho command on this machine, with the environment torchrun
// would give them (RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT).
// If one process fails the others are stopped; SIGINT/SIGTERM are passed on to every process.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <optional>
#include <thread>

#include "cli/commands.h"
#include "common/error.h"

namespace rho::cli {

namespace {

std::vector<pid_t> g_children;

void forward_signal(int sig) {
  for (pid_t p : g_children) if (p > 0) ::kill(p, sig);
}

// A free TCP port on the loopback interface (the rendezvous port when none is given).
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) fail("launch: cannot open a socket to find a free port");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof(a);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(fd);
    fail("launch: cannot bind a loopback socket to find a free port");
  }
  const int port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

// Waits for the n ranks; the first failure's exit code (0 when all succeed). After a rank fails
// the others get SIGTERM; one waiting in a collective for the dead rank may never return, so what
// still runs after kGrace is killed.
int wait_for_ranks(int n) {
  int exit_code = 0, running = n;
  constexpr auto kGrace = std::chrono::seconds(30);
  std::optional<std::chrono::steady_clock::time_point> kill_at;
  while (running > 0) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, kill_at ? WNOHANG : 0);
    if (pid == 0) {
      if (std::chrono::steady_clock::now() > *kill_at) {
        std::fprintf(stderr, "rho: error: launch: ranks still running %lld s after the failure; killing them\n",
                     (long long)kGrace.count());
        forward_signal(SIGKILL);
        kill_at.reset();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    if (pid < 0) {
      if (errno == EINTR) continue;
      break;
    }
    --running;
    int rank = 0;
    for (int r = 0; r < n; ++r) if (g_children[size_t(r)] == pid) { rank = r; g_children[size_t(r)] = -1; }
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (code != 0 && exit_code == 0) {
      exit_code = code;
      std::fprintf(stderr, "rho: error: launch: rank %d %s %d; stopping the other ranks\n", rank,
                   WIFEXITED(status) ? "exited with code" : "was killed by signal",
                   WIFEXITED(status) ? code : WTERMSIG(status));
      forward_signal(SIGTERM);
      kill_at = std::chrono::steady_clock::now() + kGrace;
    }
  }
  return exit_code;
}

int launch(int n, int port, const std::vector<std::string>& command) {
  if (command.empty()) fail("launch: no command given (usage: rho launch -n 2 -- train --data ...)");
  if (port == 0) port = free_port();
  // Threads per process: the cores shared out, unless the user set them (torchrun sets 1).
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  const std::string per_proc = std::to_string(std::max(1u, cores / unsigned(n)));
  std::fprintf(stderr, "launch: %d processes, rendezvous 127.0.0.1:%d, %s thread(s) each\n", n, port,
               std::getenv("OMP_NUM_THREADS") ? std::getenv("OMP_NUM_THREADS") : per_proc.c_str());
  std::fflush(stderr);
  for (int r = 0; r < n; ++r) {
    const pid_t pid = ::fork();
    if (pid < 0) fail("launch: fork failed");
    if (pid == 0) {
      ::setenv("RANK", std::to_string(r).c_str(), 1);
      ::setenv("LOCAL_RANK", std::to_string(r).c_str(), 1);
      ::setenv("WORLD_SIZE", std::to_string(n).c_str(), 1);
      ::setenv("LOCAL_WORLD_SIZE", std::to_string(n).c_str(), 1);
      ::setenv("MASTER_ADDR", "127.0.0.1", 1);
      ::setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
      ::setenv("OMP_NUM_THREADS", per_proc.c_str(), 0);
      ::setenv("OPENBLAS_NUM_THREADS", per_proc.c_str(), 0);
      std::vector<std::string> args{"rho"};
      args.insert(args.end(), command.begin(), command.end());
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv("/proc/self/exe", argv.data());
      std::fprintf(stderr, "rho: error: launch: cannot execute /proc/self/exe\n");
      ::_exit(127);
    }
    g_children.push_back(pid);
  }
  std::signal(SIGINT, forward_signal);
  std::signal(SIGTERM, forward_signal);
  return wait_for_ranks(n);
}

}  // namespace

void register_launch(CLI::App& app) {
  auto* sub = app.add_subcommand("launch", "Run a rho command as N data-parallel processes on this machine (docs/data-parallel.md)");
  auto n = std::make_shared<int>(2);
  auto port = std::make_shared<int>(0);
  auto command = std::make_shared<std::vector<std::string>>();
  sub->add_option("-n,--nproc", *n, "Processes (ranks)")->check(CLI::Range(1, 1024));
  sub->add_option("--master-port", *port, "Rendezvous port (0: a free one)")->check(CLI::Range(0, 65535));
  sub->add_option("command", *command, "The rho command and its arguments, after --")->required();
  sub->callback([n, port, command] {
    const int code = launch(*n, *port, *command);
    if (code != 0) std::exit(code);
  });
}

}  // namespace rho::cli
