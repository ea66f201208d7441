using Microsoft.Extensions.Logging;
using Trainer.Core.Checkpoints;
using Trainer.Core.Compression;
using Trainer.Core.Graph;
using Trainer.Core.Latency;
using Trainer.Core.Models;
using Trainer.Core.Tests.Training;
using static TorchSharp.torch;
using static Trainer.Core.Tests.Quantization.QuantTestModels;

namespace Trainer.Core.Tests.Fuzz;

/// <summary>
/// The JSON files the core reads (compression manifests, mask files, the latency-table cache), damaged every way the fuzz
/// suite knows. Manifests and masks fail with one InvalidDataException naming the file; a damaged latency cache is
/// measured again with a warning naming it.
/// </summary>
public sealed class DocumentFuzzTests : IDisposable
{
    private readonly string _dir = Fixtures.TempDir();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    public static TheoryData<DamageKind, int> Damages() => new()
    {
        { DamageKind.Empty, 0 }, { DamageKind.Truncated, 1 }, { DamageKind.Truncated, 2 }, { DamageKind.Flipped, 1 },
        { DamageKind.Flipped, 2 }, { DamageKind.Directory, 0 },
    };

    /// <summary>Applies <paramref name="kind"/>; text flips flip bit 7 (see <see cref="Damage.Flip"/>).</summary>
    internal static string Apply(DamageKind kind, int seed, string path) => kind switch
    {
        DamageKind.Flipped => Damage.Flip(path, seed, text: true),
        _ => BinaryFileFuzzTests.Apply(kind, seed, path),
    };

    /// <summary>Runs <paramref name="read"/>, with permission checks enforced for an unreadable file (those rows are
    /// <see cref="UnreadableTheoryAttribute"/> tests, skipped with the reason where that cannot be done).</summary>
    private static T Read<T>(DamageKind kind, Func<T> read) => kind == DamageKind.Unreadable ? Permissions.Enforced(read) : read();

    [UnreadableTheory]
    [InlineData("manifest")]
    [InlineData("masks")]
    [InlineData("latency cache")]
    public void An_unreadable_document_is_reported_like_the_other_damage(string file)
    {
        switch (file)
        {
            case "manifest": A_damaged_manifest_is_one_InvalidDataException_naming_it(DamageKind.Unreadable, 0); break;
            case "masks": A_damaged_mask_file_is_one_InvalidDataException_naming_it(DamageKind.Unreadable, 0); break;
            default: A_damaged_latency_cache_is_measured_again_with_a_warning_naming_it(DamageKind.Unreadable, 0); break;
        }
    }

    private static void AssertNamesTheProblem(Exception error, string path, DamageKind kind, string damage)
    {
        Assert.Contains($"'{path}'", error.Message);
        var expected = kind switch
        {
            DamageKind.Empty => "is empty",
            DamageKind.Directory => "is a directory",
            DamageKind.Unreadable => "permission denied",
            DamageKind.Flipped => "is not valid UTF-8",
            _ => "",
        };
        Assert.True(error.Message.Contains(expected), $"{damage}: {error.Message}");
    }

    private static CompressionManifest Manifest(params ModelEdit[] edits) => new()
    {
        Model = new ModelIdentity("fashion-cnn", "", "", [1, 1, 28, 28]),
        Original = new ModelMetrics(30_735_360, 1_701_578, 0.9, 0.5),
        Iterations = edits.Length == 0 ? [] :
        [
            new CompressionIteration
            {
                Index = 1, Compressor = "test → σ", TargetMacsRatio = 0.5, Edits = edits, AfterCompress = new(1, 1, 0.8, 0.4),
                AfterFinetune = new(1, 1, 0.85, 0.4), Channels = new Dictionary<string, int> { ["conv1"] = 16 },
            },
        ],
    };

    [Theory]
    [MemberData(nameof(Damages))]
    public void A_damaged_manifest_is_one_InvalidDataException_naming_it(DamageKind kind, int seed)
    {
        var path = Path.Combine(_dir, "manifest.json");
        (Manifest(new ShrinkEdit(new Dictionary<string, int> { ["conv1"] = 16 })) with { Weights = "iteration-1.weights" }).Save(path);
        var damage = Apply(kind, seed, path);
        var error = Assert.Throws<InvalidDataException>(() => Read(kind, () => CompressionManifest.Load(path)));
        AssertNamesTheProblem(error, path, kind, damage);
    }

    [Fact]
    public void Another_json_document_or_a_manifest_with_impossible_fields_is_not_taken_for_a_manifest()
    {
        var path = Path.Combine(_dir, "manifest.json");
        MaskFile.Save(path, new Dictionary<string, bool[]> { ["conv"] = [true, false] });
        Assert.Contains("is not a compression manifest", Assert.Throws<InvalidDataException>(() => CompressionManifest.Load(path)).Message);
        File.WriteAllText(path, Manifest().ToJson().Replace("\"weights\": \"\"", "\"weights\": \"../../etc/passwd\""));
        Assert.Contains("is not a file name beside the manifest", Assert.Throws<InvalidDataException>(() => CompressionManifest.Load(path)).Message);
        File.WriteAllText(path, Manifest(new ShrinkEdit(new Dictionary<string, int> { ["conv1"] = 16 })).ToJson().Replace("\"conv1\": 16", "\"conv1\": 0"));
        Assert.Contains("edit 0 of iteration 1 keeps fewer than 1 channel", Assert.Throws<InvalidDataException>(() => CompressionManifest.Load(path)).Message);
    }

    [Fact]
    public void Weights_of_another_model_beside_a_manifest_name_both_files()
    {
        // The manifest keeps 16 of conv1's 32 channels; the weights are the full model's.
        var manifestPath = Path.Combine(_dir, "manifest.json");
        var weights = Path.Combine(_dir, "iteration-1.weights");
        using (var full = new FashionCnn()) CheckpointFile.SaveWeights(weights, full);
        (Manifest(new ShrinkEdit(new Dictionary<string, int> { ["conv1"] = 16 })) with { Weights = "iteration-1.weights" }).Save(manifestPath);
        var error = Assert.Throws<CheckpointException>(() => CompressedModel.Load(manifestPath, () => new FashionCnn(), out _));
        Assert.Contains($"compression manifest '{manifestPath}'", error.Message);
        Assert.Contains(weights, error.Message);
        Assert.Contains("'conv1.weight' is [32,1,3,3] in the checkpoint but [16,1,3,3]", error.Message);
    }

    [Fact]
    public void A_manifest_of_another_architecture_names_itself_in_the_replay_error()
    {
        var manifestPath = Path.Combine(_dir, "manifest.json");
        (Manifest(new ShrinkEdit(new Dictionary<string, int> { ["layer1.0.conv1"] = 16 })) with { Weights = "w" }).Save(manifestPath);
        var error = Assert.Throws<ManifestMismatchException>(() => CompressedModel.Load(manifestPath, () => new FashionCnn(), out _));
        Assert.StartsWith($"'{manifestPath}': edit 0 (shrink layer1.0.conv1→16) does not fit the model at 'layer1.0.conv1'", error.Message);
    }

    private string SaveMasks()
    {
        var path = Path.Combine(_dir, "masks.json");
        MaskFile.Save(path, new Dictionary<string, bool[]> { ["conv"] = [true, false, true, true], ["fc"] = [true, true, false, true, true] });
        return path;
    }

    [Theory]
    [MemberData(nameof(Damages))]
    public void A_damaged_mask_file_is_one_InvalidDataException_naming_it(DamageKind kind, int seed)
    {
        var path = SaveMasks();
        var damage = Apply(kind, seed, path);
        var error = Assert.Throws<InvalidDataException>(() => Read(kind, () => MaskFile.Load(path, ConvNet())));
        AssertNamesTheProblem(error, path, kind, damage);
    }

    [Fact]
    public void Masks_of_another_model_are_refused_naming_the_layer_and_the_file()
    {
        var path = SaveMasks();
        Assert.Equal(2, MaskFile.Load(path, ConvNet()).Count);
        var wider = nn.Sequential(("conv", nn.Conv2d(1, 6, 3, padding: 1)), ("flatten", nn.Flatten()), ("fc", nn.Linear(216, 5)));
        Assert.Contains("masks 4 channels of 'conv', which has 6", Assert.Throws<InvalidDataException>(() => MaskFile.Load(path, wider)).Message);
        var renamed = nn.Sequential(("conv1", nn.Conv2d(1, 4, 3, padding: 1)), ("flatten", nn.Flatten()), ("fc", nn.Linear(144, 5)));
        var error = Assert.Throws<InvalidDataException>(() => MaskFile.Load(path, renamed));
        Assert.Contains($"'{path}' masks layer 'conv', which is not a convolution or Linear of the model (closest: conv1", error.Message);
        File.WriteAllText(path, "[1, 2]");
        Assert.Contains("is not a mask file", Assert.Throws<InvalidDataException>(() => MaskFile.Load(path)).Message);
    }

    /// <summary>conv - relu - conv on 1x3x8x8: two pieces, measured in well under a second.</summary>
    private static nn.Module<Tensor, Tensor> TinyModel()
    {
        manual_seed(0);
        return nn.Sequential(("conv1", nn.Conv2d(3, 8, 3, padding: 1)), ("relu", nn.ReLU()), ("conv2", nn.Conv2d(8, 8, 3, padding: 1)));
    }

    public static TheoryData<DamageKind, int> CacheDamages()
    {
        var rows = Damages();
        rows.Add(DamageKind.Foreign, 0);
        return rows;
    }

    [Theory]
    [MemberData(nameof(CacheDamages))]
    public void A_damaged_latency_cache_is_measured_again_with_a_warning_naming_it(DamageKind kind, int seed)
    {
        long[] shape = [1, 3, 8, 8];
        var model = TinyModel();
        var graph = ModelGraph.Build(model, shape);
        var options = new LatencyTableOptions { CacheDir = Path.Combine(_dir, "latency"), Rounds = 1, GridPoints = 2 };
        var measured = LatencyTable.LoadOrMeasure(model, shape, graph, options);
        var path = Directory.GetFiles(options.CacheDir).Single();
        var damage = kind == DamageKind.Foreign
            ? Damage.Replace(path, WriteForeignTable(measured))
            : Apply(kind, seed, path);

        var logger = new RecordingLogger();
        var table = Read(kind, () => LatencyTable.LoadOrMeasure(model, shape, graph, options, logger));
        Assert.Equal(measured.Key, table.Key);
        Assert.Equal(measured.Units.Select(u => u.Producer), table.Units.Select(u => u.Producer));
        Assert.True(logger.Lines.Any(l => l.Message.StartsWith("Measuring the latency table", StringComparison.Ordinal)), damage);
        var warning = Assert.Single(logger.Warnings, w => w.Contains($"Latency table {path} is"));
        Assert.True(kind != DamageKind.Foreign || warning.Contains("for another model or machine"), warning);
        if (kind == DamageKind.Directory)
            Assert.Contains(logger.Warnings, w => w.StartsWith($"Latency table could not be cached at {path}", StringComparison.Ordinal));
        else
            Assert.NotNull(LatencyTable.TryLoad(path, measured.Key));   // measured again and cached in its place
    }

    private string WriteForeignTable(LatencyTable table)
    {
        var path = Path.Combine(_dir, "foreign.json");
        var other = table with { Key = table.Key with { Threads = table.Key.Threads + 1 } };
        File.WriteAllText(path, System.Text.Json.JsonSerializer.Serialize(other));
        return path;
    }

    [Fact]
    public void A_cached_table_whose_times_do_not_match_its_grid_is_not_used()
    {
        long[] shape = [1, 3, 8, 8];
        var model = TinyModel();
        var graph = ModelGraph.Build(model, shape);
        var options = new LatencyTableOptions { CacheDir = Path.Combine(_dir, "latency"), Rounds = 1, GridPoints = 2 };
        var measured = LatencyTable.LoadOrMeasure(model, shape, graph, options);
        var path = Directory.GetFiles(options.CacheDir).Single();
        var broken = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(path))!;
        broken["Units"]![0]!["Ms"] = new System.Text.Json.Nodes.JsonArray();
        File.WriteAllText(path, broken.ToJsonString());
        var logger = new RecordingLogger();
        Assert.Null(LatencyTable.TryLoad(path, measured.Key, logger));
        Assert.Contains("the times of 'conv1' do not match its grid", Assert.Single(logger.Warnings));
    }
}
