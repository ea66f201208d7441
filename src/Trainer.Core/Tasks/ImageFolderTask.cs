using System.Globalization;
using Microsoft.Extensions.Logging;
using Trainer.Core.Data.Images;

namespace Trainer.Core.Tasks;

/// <summary>
/// The built-in task "image-folder": PNG and JPEG images at Data:Path, one sub-folder per class
/// (<see cref="ImageFolderLayout"/> says where validation and test images come from), decoded by SkiaSharp to one size and
/// channel count, kept in memory as uint8 or streamed when too large (<see cref="ImageFolderReader"/>). Normalisation,
/// augmentation, model and score are <see cref="ImageClassificationTask"/>'s.
/// </summary>
/// <remarks>Settings (Task:Settings:*) besides the image tasks' own: <c>image_size</c> ("32" or "48x64", height x width;
/// default the images' own size), <c>resize</c> (crop or stretch), <c>channels</c> (1, 3 or 4: convert every image),
/// <c>validation_fraction</c> (default 0.1) and <c>split_seed</c> (default 0) when there is no val/ or test/ folder,
/// <c>loading</c> (auto, memory or stream), <c>memory_limit_mb</c>, <c>decode_threads</c>, <c>prefetch_batches</c>.</remarks>
public sealed class ImageFolderTask : ImageClassificationTask
{
    /// <summary>The name configuration picks it by (Task:Name).</summary>
    public const string TaskName = "image-folder";

    private ImageFolderOptions _options = new();
    private double _validationFraction = 0.1;
    private long _splitSeed;

    /// <inheritdoc />
    public override string Name => TaskName;

    /// <summary>How the folder is decoded, as configured.</summary>
    public ImageFolderOptions Options => _options;

    /// <summary>The training split (an <see cref="InMemoryImages"/> or a <see cref="StreamingImages"/>).</summary>
    public IImageSource TrainImages => Splits.Train;

    /// <inheritdoc />
    protected override void ReadSettings(TaskSettingsReader settings)
    {
        var (height, width) = ImageSize(settings);
        var resize = settings.Choice("resize", "crop", "crop", "stretch");
        var channels = settings.Choice("channels", "", "1", "3", "4");
        var loading = settings.Choice("loading", "auto", "auto", "memory", "stream");
        var limit = settings.Number("memory_limit_mb", ImageFolderOptions.DefaultMemoryLimitBytes / 1e6, 0, 1e9,
            "largest decoded size kept in memory when loading is auto, in MB; default half the memory available");
        _options = new ImageFolderOptions(height, width,
            resize == "stretch" ? ResizeMode.Stretch : ResizeMode.Crop,
            channels.Length > 0 ? int.Parse(channels, CultureInfo.InvariantCulture) : null,
            Enum.Parse<ImageLoading>(loading, ignoreCase: true),
            (long)(limit * 1e6),
            settings.Integer("decode_threads", Environment.ProcessorCount, 1, 256, "threads decoding at once; default the processor count"),
            settings.Integer("prefetch_batches", 4, 1, 1024, "batches a streaming loader decodes ahead of training"));
        _validationFraction = settings.Number("validation_fraction", 0.1, 0, 1, "share of the training images held out for validation when there is no val/ or test/ folder");
        _splitSeed = settings.Integer("split_seed", 0, 0, int.MaxValue, "seed of that split");
    }

    private static (int? Height, int? Width) ImageSize(TaskSettingsReader settings)
    {
        var text = settings.Text("image_size");
        if (string.IsNullOrEmpty(text)) return (null, null);
        var parts = text.ToLowerInvariant().Split('x', StringSplitOptions.TrimEntries);
        var sizes = new int[parts.Length];
        if (parts.Length is 1 or 2 && parts.Select((p, i) => int.TryParse(p, NumberStyles.Integer, CultureInfo.InvariantCulture, out sizes[i])).All(ok => ok)
            && sizes.All(s => s is >= 4 and <= 8192))
            return (sizes[0], sizes[^1]);
        throw TaskSettingsReader.Invalid("image_size", text, "a side from 4 to 8192 pixels (e.g. 32), or height x width (e.g. 48x64)");
    }

    /// <inheritdoc />
    protected override ImageSplits Load(string dataPath, ILogger logger)
    {
        if (dataPath.Length == 0)
            throw new ArgumentException($"The task '{Name}' needs Data:Path: a folder with one sub-folder of images per class.");
        var (train, validation, test, classes) = ImageFolderReader.Read(dataPath, _options, _validationFraction, _splitSeed, logger);
        return new ImageSplits(train, validation, test, classes);
    }
}
