using Trainer.Core.IO;

namespace Trainer.Core.Tests.IO;

public sealed class AtomicFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("trainer-atomic-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData("last.ckpt")]
    [InlineData("manifest.json")]
    [InlineData("quantized.trnq")]
    [InlineData("accuracy-vs-macs.png")]
    [InlineData("noextension")]
    [InlineData(".hidden")]
    public void The_temporary_names_of_writes_are_recognised(string name)
    {
        string? temp = null;
        AtomicFile.Write(Path.Combine(_dir, name), t =>
        {
            temp = Path.GetFileName(t);
            File.WriteAllText(t, "x");
        });
        Assert.True(AtomicFile.IsTempName(temp!), temp);
        Assert.Equal(["x"], Directory.GetFiles(_dir).Select(File.ReadAllText));   // renamed into place, nothing else left
    }

    [Fact]
    public void Removing_stale_temporary_files_deletes_only_those_of_interrupted_writes()
    {
        string[] stale = [".last.0123abcd.tmp.ckpt", ".manifest.deadbeef.tmp.json", ".noextension.89abcdef.tmp", "sub/.weights.00000000.tmp.weights"];
        string[] kept =
        [
            "last.ckpt", ".hidden", "x.tmp", "notes.tmp.txt", ".last.0123abc.tmp.ckpt" /* 7 hex */, ".last.0123ABCD.tmp.ckpt" /* upper case */,
            "last.0123abcd.tmp.ckpt" /* no leading dot */, ".last.0123abcd.temp.ckpt", "sub/.probe.0123abcd.tmpx",
        ];
        foreach (var f in stale.Concat(kept))
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(_dir, f))!);
            File.WriteAllText(Path.Combine(_dir, f), "half");
        }

        Assert.Equal([Path.Combine(_dir, stale[0]), Path.Combine(_dir, stale[1]), Path.Combine(_dir, stale[2])],
            AtomicFile.RemoveStaleTemps(_dir, recursive: false).Order());
        Assert.True(File.Exists(Path.Combine(_dir, stale[3])));                       // not recursive: the sub-folder's stays
        Assert.Equal([Path.Combine(_dir, stale[3])], AtomicFile.RemoveStaleTemps(_dir));
        Assert.All(kept, f => Assert.True(File.Exists(Path.Combine(_dir, f)), f));
        Assert.Empty(AtomicFile.RemoveStaleTemps(Path.Combine(_dir, "missing")));
    }

    [Fact]
    public void A_failed_write_leaves_the_previous_file_and_no_temporary_file()
    {
        var path = Path.Combine(_dir, "manifest.json");
        AtomicFile.WriteAllText(path, "old");
        Assert.Throws<IOException>(() => AtomicFile.Write(path, t =>
        {
            File.WriteAllText(t, "half");
            throw new IOException("disk full");
        }));
        Assert.Equal("old", File.ReadAllText(path));
        Assert.Equal([path], Directory.GetFiles(_dir));
    }
}
