using System.Text.Json;
using System.Text.Json.Serialization;
using Trainer.Abstractions.Compression;
using Trainer.Abstractions.Tasks;

namespace Trainer.Core.Compression;

/// <summary>Which architecture a manifest's edits apply to: a catalog name, or a user's class in an assembly.</summary>
/// <param name="Name">Catalog name ("fashion-cnn", "resnet18") or the class's short name.</param>
/// <param name="Type">Full name of a user's model class; empty for catalog models.</param>
/// <param name="Assembly">Assembly holding <paramref name="Type"/>; empty for catalog models.</param>
/// <param name="InputShape">Example input shape, batch included.</param>
public sealed record ModelIdentity(string Name, string Type, string Assembly, long[] InputShape);

/// <summary>Size, speed and accuracy of a model at one point of the pipeline.</summary>
/// <param name="Macs">Conv2d/Linear multiply-accumulates for one example input.</param>
/// <param name="Params">Parameters.</param>
/// <param name="Score">The task's validation score (<see cref="CompressionManifest.Score"/> names it; NaN when not measured).</param>
/// <param name="LatencyMs">Median batch-1 latency in milliseconds on the machine of the run (NaN when not measured).</param>
public sealed record ModelMetrics(long Macs, long Params, double Score, double LatencyMs);

/// <summary>One finished compress → finetune iteration.</summary>
public sealed record CompressionIteration
{
    /// <summary>1-based iteration number.</summary>
    public required int Index { get; init; }
    /// <summary>Name of the compressor that ran.</summary>
    public required string Compressor { get; init; }
    /// <summary>MACs this iteration aimed at, as a fraction of the original model's.</summary>
    public required double TargetMacsRatio { get; init; }
    /// <summary>The structural edits of this iteration, in order.</summary>
    public required IReadOnlyList<ModelEdit> Edits { get; init; }
    /// <summary>The model right after the compress step.</summary>
    public required ModelMetrics AfterCompress { get; init; }
    /// <summary>The model after finetuning (equal to <see cref="AfterCompress"/> when no finetuning ran).</summary>
    public required ModelMetrics AfterFinetune { get; init; }
    /// <summary>Output channels (features) of every Conv2d/Linear after the iteration.</summary>
    public required IReadOnlyDictionary<string, int> Channels { get; init; }
    /// <summary>Latency this iteration aimed at, as a fraction of the original model's, or null under a MACs target.</summary>
    public double? TargetLatencyRatio { get; init; }
    /// <summary>Batch-1 speedup over the original, both timed in alternating rounds right after the compress step
    /// (finetuning keeps the structure, and with it the speed), or null when not measured.</summary>
    public double? Speedup { get; init; }
    /// <summary>What the compressor said about each layer.</summary>
    public IReadOnlyList<LayerNote> Notes { get; init; } = [];
    /// <summary>The compressor's summary sentence.</summary>
    public string Summary { get; init; } = "";
    /// <summary>What timings on this machine decided in this iteration, in words (empty when nothing timed decided): the same
    /// configuration reproduces the iteration only where a cached table or a recorded decision stands in for them.</summary>
    public IReadOnlyList<string> TimingDecisions { get; init; } = [];
}

/// <summary>
/// How a compressed model is rebuilt: TorchSharp cannot serialise modules, so the manifest names the original
/// architecture and every structural edit; loading builds the architecture, replays the edits and loads the weights file
/// beside it (<see cref="CompressedModel"/>). Also the record of the run: metrics per iteration.
/// </summary>
public sealed record CompressionManifest
{
    /// <summary>The format tag every manifest carries.</summary>
    public const string FormatTag = "trainer.compression-manifest/2";

    /// <summary>The first format, read and migrated: its metrics held "accuracy" where they hold the task's "score" now.</summary>
    public const string AccuracyFormatTag = "trainer.compression-manifest/1";

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter() },
    };

    /// <summary>Format tag; <see cref="FormatTag"/>.</summary>
    public string Format { get; init; } = FormatTag;
    /// <summary>The original architecture.</summary>
    public required ModelIdentity Model { get; init; }
    /// <summary>The original model before any compression.</summary>
    public required ModelMetrics Original { get; init; }
    /// <summary>What the metrics' score is (the task's name and direction), or null when no score was taken.</summary>
    public TaskScore? Score { get; init; }
    /// <summary>Finished iterations, in order.</summary>
    public IReadOnlyList<CompressionIteration> Iterations { get; init; } = [];
    /// <summary>Memory layout of the conv weights after loading: "contiguous" or "channels_last" (an exported inference form).</summary>
    public string Layout { get; init; } = ContiguousLayout;
    /// <summary>Convs kept NCHW in a channels-last model because their channels-last result was wrong where it was exported
    /// (<see cref="Inference.ChannelsLastGuard"/>); loading checks the others again on the machine it runs on.</summary>
    public IReadOnlyList<string> ContiguousLayers { get; init; } = [];
    /// <summary>The default <see cref="Layout"/>.</summary>
    public const string ContiguousLayout = "contiguous";
    /// <summary>The channels-last <see cref="Layout"/>.</summary>
    public const string ChannelsLastLayout = "channels_last";
    /// <summary>Weights file (a weights-only checkpoint) of the model after the last iteration, relative to the manifest.</summary>
    public string Weights { get; init; } = "";

    /// <summary>Every edit of every iteration, in order.</summary>
    [JsonIgnore]
    public IReadOnlyList<ModelEdit> AllEdits => [.. Iterations.SelectMany(i => i.Edits)];

    /// <summary>Metrics of the newest model (the original's when no iteration finished).</summary>
    [JsonIgnore]
    public ModelMetrics Current => Iterations.Count > 0 ? Iterations[^1].AfterFinetune : Original;

    /// <summary>
    /// This manifest without what was timed on the machine of the run: every <see cref="ModelMetrics.LatencyMs"/> NaN and every
    /// <see cref="CompressionIteration.Speedup"/> null. A file that embeds the manifest for its architecture (quantized.trnq)
    /// carries this form, so the same model gives the same bytes however fast the machine was at the time.
    /// </summary>
    public CompressionManifest WithoutTimings() => this with
    {
        Original = Original with { LatencyMs = double.NaN },
        Iterations = Iterations.Select(i => i with
        {
            AfterCompress = i.AfterCompress with { LatencyMs = double.NaN },
            AfterFinetune = i.AfterFinetune with { LatencyMs = double.NaN },
            Speedup = null,
        }).ToList(),
    };

    /// <summary>Writes the manifest (temporary file renamed into place).</summary>
    public void Save(string path) => IO.AtomicFile.WriteAllText(path, ToJson());

    /// <summary>The manifest as indented JSON.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>Reads a manifest; a missing, unreadable, damaged, malformed or foreign file is an <see cref="InvalidDataException"/> naming it.</summary>
    public static CompressionManifest Load(string path) =>
        FromJson(IO.FileBytes.ReadText(path, "Compression manifest", message => new InvalidDataException(message)), $"'{path}'");

    /// <summary>Parses a manifest from <paramref name="json"/>; <paramref name="source"/> names it in errors.</summary>
    /// <exception cref="InvalidDataException">The text is not a compression manifest, or one of its fields is impossible.</exception>
    public static CompressionManifest FromJson(string json, string source)
    {
        CompressionManifest? manifest;
        try
        {
            // The format tag first: another JSON document (masks, a latency table) is "not a manifest", not a list of missing fields.
            using (var document = JsonDocument.Parse(json))
            {
                var format = document.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty("format", out var f)
                    ? f.ToString() : null;
                if (format == AccuracyFormatTag) json = FromAccuracyFormat(json);
                else if (format != FormatTag)
                    throw new InvalidDataException($"{source} is not a compression manifest (expected format '{FormatTag}', found '{format}').");
            }
            manifest = JsonSerializer.Deserialize<CompressionManifest>(json, Json);
        }
        catch (Exception e) when (e is JsonException or NotSupportedException or InvalidOperationException)
        {
            // NotSupportedException: an edit without its "kind" (the abstract edit type cannot be built).
            throw new InvalidDataException($"Compression manifest {source} is not valid: {e.Message}");
        }
        if (manifest is null || manifest.Format != FormatTag)
            throw new InvalidDataException($"{source} is not a compression manifest (expected format '{FormatTag}', found '{manifest?.Format}').");
        if (manifest.Problem() is { } problem)
            throw new InvalidDataException($"Compression manifest {source} is damaged: {problem}.");
        return manifest;
    }

    /// <summary>A manifest of the first format in this one: every metrics object's "accuracy" becomes its "score", of a
    /// classification task's accuracy.</summary>
    private static string FromAccuracyFormat(string json)
    {
        var root = System.Text.Json.Nodes.JsonNode.Parse(json)!.AsObject();
        root["format"] = FormatTag;
        root["score"] = new System.Text.Json.Nodes.JsonObject { ["name"] = TaskScore.Accuracy.Name, ["direction"] = TaskScore.Accuracy.Direction.ToString() };
        Rename(root["original"]);
        foreach (var iteration in root["iterations"]?.AsArray() ?? [])
        {
            Rename(iteration?["after_compress"]);
            Rename(iteration?["after_finetune"]);
        }
        return root.ToJsonString();

        static void Rename(System.Text.Json.Nodes.JsonNode? metrics)
        {
            if (metrics is System.Text.Json.Nodes.JsonObject o && o.Remove("accuracy", out var value)) o["score"] = value;
        }
    }

    /// <summary>
    /// The first field that cannot be right, or null. The JSON reader fills absent optional fields with defaults and
    /// accepts nulls, so without this a damaged manifest would fail later, deep in replay or loading, without naming itself.
    /// </summary>
    private string? Problem()
    {
        if (Model is null || Model.Name is null || Model.Type is null || Model.Assembly is null) return "the model identity is incomplete";
        if (Model.InputShape is null || Model.InputShape.Length is < 1 or > 8 || Model.InputShape.Any(d => d < 1 || d > 1 << 20))
            return $"the input shape [{string.Join(",", Model.InputShape ?? [])}] is not a shape";
        if (Original is null) return "the original model's metrics are missing";
        if (Score is not null && (string.IsNullOrWhiteSpace(Score.Name) || !Enum.IsDefined(Score.Direction))) return "the score has no name or direction";
        if (Iterations is null) return "the iteration list is null";
        if (Weights is null || Layout is null) return "the weights file or layout is null";
        if (ContiguousLayers is null || ContiguousLayers.Any(string.IsNullOrEmpty)) return "the list of layers kept NCHW is null or has an empty name";
        if (Weights.Length > 0 && (Path.GetFileName(Weights) != Weights || Weights is "." or ".."))
            return $"the weights file '{Weights}' is not a file name beside the manifest";
        for (int i = 0; i < Iterations.Count; i++)
        {
            var iteration = Iterations[i];
            if (iteration?.Edits is null || iteration.AfterCompress is null || iteration.AfterFinetune is null || iteration.Channels is null
                || iteration.Compressor is null || iteration.TimingDecisions is null)
                return $"iteration {i + 1} is incomplete";
            for (int e = 0; e < iteration.Edits.Count; e++)
            {
                string? bad = iteration.Edits[e] switch
                {
                    null => "is null",
                    ShrinkEdit { KeptChannelsByProducer: null } => "has no kept channels",
                    ShrinkEdit shrink when shrink.KeptChannelsByProducer.Any(kv => kv.Key is null or "" || kv.Value < 1) => "keeps fewer than 1 channel",
                    FactorizeEdit f when string.IsNullOrEmpty(f.Layer) || f.Rank < 1 => "has no layer or a rank below 1",
                    FoldBatchNormEdit f when string.IsNullOrEmpty(f.Conv) || string.IsNullOrEmpty(f.BatchNorm) => "names no conv or BatchNorm",
                    _ => null,
                };
                if (bad is not null) return $"edit {e} of iteration {i + 1} {bad}";
            }
        }
        return null;
    }
}
