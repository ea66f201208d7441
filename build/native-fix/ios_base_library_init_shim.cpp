// Provides std::ios_base_library_init(), which GCC 13's libstdc++ exports (GLIBCXX_3.4.32) and
// TorchSharp's libLibTorchSharp.so calls for iostream start-up. Older libstdc++ (Debian 12) lacks it.
#include <ios>

namespace std {
void ios_base_library_init() {
    static ios_base::Init init;
}
}
