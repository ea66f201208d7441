namespace Trainer.Core.Data.Images;

/// <summary>The image files of one split and their class indices, in a fixed order (class, then file name, ordinal).</summary>
/// <param name="Name">"train", "validation" or "test", for messages.</param>
/// <param name="Files">Full paths.</param>
/// <param name="Labels">Class index of each file.</param>
public sealed record ImageFileList(string Name, IReadOnlyList<string> Files, IReadOnlyList<long> Labels)
{
    /// <summary>The files at <paramref name="indices"/>, in that order.</summary>
    public ImageFileList Select(string name, IEnumerable<long> indices)
    {
        var chosen = indices.ToList();
        return new ImageFileList(name, [.. chosen.Select(i => Files[(int)i])], [.. chosen.Select(i => Labels[(int)i])]);
    }
}

/// <summary>
/// Where an image folder's splits are (torchvision's ImageFolder layout: one sub-folder per class, named by the class):
/// Data:Path with <c>train/</c> takes <c>val/</c> (or <c>valid/</c>, <c>validation/</c>) as validation and <c>test/</c> as
/// test split, or <c>test/</c> as validation when there is no val folder; without any, the validation images are a seeded
/// random share of the training images (as Lightning's <c>random_split</c> with a seeded generator). Data:Path without
/// <c>train/</c> is itself the class root, split the same way. Classes are the training sub-folders in ordinal order.
/// Files ending in .png, .jpg or .jpeg (any case) are images; other files and hidden entries are ignored.
/// </summary>
public static class ImageFolderLayout
{
    /// <summary>Extensions read as images.</summary>
    public static readonly IReadOnlyList<string> Extensions = [".png", ".jpg", ".jpeg"];

    private static readonly string[] ValidationFolders = ["val", "valid", "validation"];

    /// <summary>The splits and class names found at <paramref name="dataPath"/>.</summary>
    /// <exception cref="DatasetNotFoundException">Nothing at <paramref name="dataPath"/>, or no class folder.</exception>
    /// <exception cref="InvalidDataException">A class folder without images, a single class, or a validation class unknown to training.</exception>
    public static (ImageFileList Train, ImageFileList Validation, ImageFileList? Test, IReadOnlyList<string> Classes) Find(
        string dataPath, double validationFraction, long splitSeed)
    {
        var root = Path.GetFullPath(dataPath);
        if (!Directory.Exists(root))
            throw new DatasetNotFoundException($"The image folder '{root}' does not exist. Set Data:Path to a folder with one sub-folder of " +
                                               "images per class (or with train/ and val/ folders laid out so).", "Data:Path", root);
        var trainRoot = Path.Combine(root, "train");
        var hasTrain = Directory.Exists(trainRoot);
        var classRoot = hasTrain ? trainRoot : root;
        var classes = Subfolders(classRoot);
        if (classes.Count == 0)
            throw new DatasetNotFoundException($"'{classRoot}' has no class folders. An image folder has one sub-folder per class holding its " +
                                               $"images ({string.Join(", ", Extensions)}), e.g. {Path.Combine(classRoot, "cat", "001.png")}.", "Data:Path", classRoot);
        if (classes.Count < 2)
            throw new InvalidDataException($"'{classRoot}' has a single class folder ('{classes[0]}'); classification needs at least two.");
        var train = List("train", classRoot, classes, requireEveryClass: true);

        var validationRoot = hasTrain ? ValidationFolders.Select(v => Path.Combine(root, v)).FirstOrDefault(Directory.Exists) : null;
        var testRoot = hasTrain && Directory.Exists(Path.Combine(root, "test")) ? Path.Combine(root, "test") : null;
        if (validationRoot is null && testRoot is not null) (validationRoot, testRoot) = (testRoot, null);
        if (validationRoot is not null)
            return (train, List("validation", validationRoot, classes, requireEveryClass: false), testRoot is null ? null : List("test", testRoot, classes, false), classes);

        var (trainPart, validationPart) = RandomSplit(train, validationFraction, splitSeed, classRoot);
        return (trainPart, validationPart, null, classes);
    }

    private static List<string> Subfolders(string folder) =>
        [.. Directory.EnumerateDirectories(folder).Select(Path.GetFileName).OfType<string>().Where(n => !n.StartsWith('.')).Order(StringComparer.Ordinal)];

    private static ImageFileList List(string name, string root, IReadOnlyList<string> classes, bool requireEveryClass)
    {
        var unknown = Subfolders(root).Where(f => !classes.Contains(f, StringComparer.Ordinal)).ToList();
        if (unknown.Count > 0)
            throw new InvalidDataException($"The {name} folder '{root}' has class folder(s) {string.Join(", ", unknown.Select(u => $"'{u}'"))} that the " +
                                           $"training images do not have; the training classes are {string.Join(", ", classes)}.");
        var files = new List<string>();
        var labels = new List<long>();
        for (var c = 0; c < classes.Count; c++)
        {
            var folder = Path.Combine(root, classes[c]);
            if (!Directory.Exists(folder)) continue;
            var images = Directory.EnumerateFiles(folder)
                .Where(f => !Path.GetFileName(f).StartsWith('.') && Extensions.Contains(Path.GetExtension(f).ToLowerInvariant()))
                .Order(StringComparer.Ordinal).ToList();
            if (images.Count == 0 && (requireEveryClass || Directory.Exists(folder)))
                throw new InvalidDataException($"The class folder '{folder}' has no images ({string.Join(", ", Extensions)}); add its images or remove the folder.");
            files.AddRange(images);
            labels.AddRange(Enumerable.Repeat((long)c, images.Count));
        }
        if (files.Count == 0) throw new InvalidDataException($"The {name} folder '{root}' holds no images.");
        return new ImageFileList(name, files, labels);
    }

    private static (ImageFileList Train, ImageFileList Validation) RandomSplit(ImageFileList all, double fraction, long seed, string root)
    {
        var count = all.Files.Count;
        var validation = (int)Math.Round(fraction * count);
        if (validation < 1 || validation >= count)
            throw new ArgumentException($"Task:Settings:validation_fraction = {fraction.ToString(System.Globalization.CultureInfo.InvariantCulture)} of the " +
                                        $"{count} images of '{root}' leaves {validation} validation and {count - validation} training images; each needs " +
                                        "at least one. Change the fraction, or lay the images out in train/ and val/ folders.");
        using var generator = new TorchSharp.torch.Generator((ulong)seed);
        using var order = TorchSharp.torch.randperm(count, generator: generator);
        var indices = order.data<long>().ToArray();
        return (all.Select("train", indices[validation..]), all.Select("validation", indices[..validation]));
    }
}
