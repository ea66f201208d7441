// Sets VER_FLG_WEAK on one version requirement (Elf64_Vernaux) of an ELF64 shared object, so that
// glibc's loader only warns when that version is absent instead of refusing to load the library.
// Usage: mark_version_weak <file.so> <version-name>
#include <elf.h>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <vector>

int main(int argc, char** argv) {
    if (argc != 3) { std::fprintf(stderr, "usage: %s <file.so> <version>\n", argv[0]); return 2; }
    std::ifstream in(argv[1], std::ios::binary);
    std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    in.close();
    if (bytes.size() < sizeof(Elf64_Ehdr) || std::memcmp(bytes.data(), ELFMAG, SELFMAG) != 0 ||
        bytes[EI_CLASS] != ELFCLASS64) {
        std::fprintf(stderr, "%s: not an ELF64 file\n", argv[1]); return 1;
    }
    auto* eh = reinterpret_cast<Elf64_Ehdr*>(bytes.data());
    auto* sh = reinterpret_cast<Elf64_Shdr*>(bytes.data() + eh->e_shoff);
    int changed = 0, found = 0;
    for (int i = 0; i < eh->e_shnum; ++i) {
        if (sh[i].sh_type != SHT_GNU_verneed) continue;
        const char* strtab = bytes.data() + sh[sh[i].sh_link].sh_offset;
        size_t off = sh[i].sh_offset;
        for (;;) {
            auto* vn = reinterpret_cast<Elf64_Verneed*>(bytes.data() + off);
            size_t aoff = off + vn->vn_aux;
            for (int k = 0; k < vn->vn_cnt; ++k) {
                auto* va = reinterpret_cast<Elf64_Vernaux*>(bytes.data() + aoff);
                if (std::strcmp(strtab + va->vna_name, argv[2]) == 0) {
                    ++found;
                    if (!(va->vna_flags & VER_FLG_WEAK)) { va->vna_flags |= VER_FLG_WEAK; ++changed; }
                }
                if (va->vna_next == 0) break;
                aoff += va->vna_next;
            }
            if (vn->vn_next == 0) break;
            off += vn->vn_next;
        }
    }
    if (changed) {
        std::ofstream out(argv[1], std::ios::binary | std::ios::trunc);
        out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    }
    std::printf("%s: %s found %d, newly marked weak %d\n", argv[1], argv[2], found, changed);
    return 0;
}
