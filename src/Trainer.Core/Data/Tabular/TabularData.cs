using System.Globalization;
using static TorchSharp.torch;

namespace Trainer.Core.Data.Tabular;

/// <summary>What a tabular task predicts.</summary>
public enum TabularObjective
{
    /// <summary>A number per row; mean squared error, lower is better.</summary>
    Regression,
    /// <summary>A class per row (the target cells' distinct values); accuracy, higher is better.</summary>
    Classification,
}

/// <summary>One split of a tabular data set: float32 features <c>[N, F]</c> and targets (float32 <c>[N]</c> for regression,
/// int64 class indices <c>[N]</c> for classification). Owns both tensors.</summary>
public sealed class TabularSplit : IDisposable
{
    /// <summary>Takes ownership of the two tensors.</summary>
    public TabularSplit(Tensor features, Tensor targets)
    {
        Features = features.DetachFromDisposeScope();
        Targets = targets.DetachFromDisposeScope();
    }

    /// <summary>float32 <c>[N, F]</c>.</summary>
    public Tensor Features { get; }

    /// <summary>float32 or int64 <c>[N]</c>.</summary>
    public Tensor Targets { get; }

    /// <summary>Number of rows.</summary>
    public long Count => Features.shape[0];

    /// <summary>Frees both tensors.</summary>
    public void Dispose()
    {
        Features.Dispose();
        Targets.Dispose();
    }
}

/// <summary>How a tabular data set is read: which column is the target, which are features, what is predicted, how a
/// single file is split.</summary>
/// <param name="Target">The target column's name.</param>
/// <param name="Features">Feature columns, or null for every column but the target.</param>
/// <param name="Objective">Regression or classification.</param>
/// <param name="ValidationFraction">Share of a single file's rows held out for validation.</param>
/// <param name="SplitSeed">Seed of that split's random permutation.</param>
public sealed record TabularLayout(string Target, IReadOnlyList<string>? Features, TabularObjective Objective, double ValidationFraction, long SplitSeed);

/// <summary>
/// A tabular data set from CSV: Data:Path is either one CSV file, split into training and validation rows by a seeded
/// permutation, or a folder with <c>train.csv</c>, and <c>val.csv</c> (else the same split of train.csv) and optionally
/// <c>test.csv</c>. Every feature cell must be a number; for classification the target cells are class names (their sorted
/// distinct training values).
/// </summary>
public sealed class TabularData : IDisposable
{
    private TabularData(TabularSplit train, TabularSplit validation, TabularSplit? test, string[] features, string[] classes)
    {
        Train = train;
        Validation = validation;
        Test = test;
        FeatureNames = features;
        ClassNames = classes;
    }

    /// <summary>Training rows.</summary>
    public TabularSplit Train { get; }

    /// <summary>Validation rows.</summary>
    public TabularSplit Validation { get; }

    /// <summary>Test rows (test.csv), or null.</summary>
    public TabularSplit? Test { get; }

    /// <summary>Feature columns, in the order of the features tensor.</summary>
    public IReadOnlyList<string> FeatureNames { get; }

    /// <summary>Class names in index order (classification), empty for regression.</summary>
    public IReadOnlyList<string> ClassNames { get; }

    /// <summary>Reads the data set at <paramref name="dataPath"/>.</summary>
    /// <exception cref="DatasetNotFoundException">Nothing at <paramref name="dataPath"/>, or a folder without train.csv.</exception>
    /// <exception cref="InvalidDataException">A file's problem: its message names the file, row and column.</exception>
    /// <exception cref="ArgumentException">A configured column is missing (the message lists the file's columns).</exception>
    public static TabularData Load(string dataPath, TabularLayout layout)
    {
        ArgumentNullException.ThrowIfNull(layout);
        var full = Path.GetFullPath(dataPath);
        CsvTable trainTable;
        CsvTable? validationTable = null, testTable = null;
        if (Directory.Exists(full))
        {
            var train = Path.Combine(full, "train.csv");
            if (!File.Exists(train))
                throw new DatasetNotFoundException($"The folder '{full}' has no train.csv. Set Data:Path to a CSV file (split into training and " +
                                                   "validation rows by Task:Settings:validation_fraction) or to a folder with train.csv, and val.csv " +
                                                   "and test.csv if you have them.", "Data:Path", train);
            trainTable = CsvTable.Read(train);
            var val = new[] { "val.csv", "validation.csv" }.Select(f => Path.Combine(full, f)).FirstOrDefault(File.Exists);
            if (val is not null) validationTable = CsvTable.Read(val);
            var test = Path.Combine(full, "test.csv");
            if (File.Exists(test)) testTable = CsvTable.Read(test);
        }
        else if (File.Exists(full)) trainTable = CsvTable.Read(full);
        else
            throw new DatasetNotFoundException($"Nothing at '{full}'. Set Data:Path to a CSV file with a header row, or to a folder with train.csv " +
                                               "(and val.csv, test.csv if you have them).", "Data:Path", full);

        var (featureColumns, targetColumn) = Columns(trainTable, layout);
        var classes = layout.Objective == TabularObjective.Classification ? Classes(trainTable, targetColumn) : [];
        var features = featureColumns.Select(c => trainTable.Columns[c]).ToArray();
        using var scope = NewDisposeScope();
        var (x, y) = Convert(trainTable, featureColumns, targetColumn, classes, layout.Objective);
        TabularSplit trainSplit, validationSplit;
        if (validationTable is null)
        {
            var (trainRows, validationRows) = SplitRows(x.shape[0], layout.ValidationFraction, layout.SplitSeed, trainTable.File);
            trainSplit = new TabularSplit(x.index_select(0, trainRows), y.index_select(0, trainRows));
            validationSplit = new TabularSplit(x.index_select(0, validationRows), y.index_select(0, validationRows));
        }
        else
        {
            trainSplit = new TabularSplit(x, y);
            validationSplit = Split(validationTable, features, layout, classes);
        }
        var testSplit = testTable is null ? null : Split(testTable, features, layout, classes);
        return new TabularData(trainSplit, validationSplit, testSplit, features, classes);
    }

    private static TabularSplit Split(CsvTable table, string[] features, TabularLayout layout, string[] classes)
    {
        var (featureColumns, targetColumn) = Columns(table, layout with { Features = features });
        var (x, y) = Convert(table, featureColumns, targetColumn, classes, layout.Objective);
        return new TabularSplit(x, y);
    }

    private static (int[] Features, int Target) Columns(CsvTable table, TabularLayout layout)
    {
        var target = table.IndexOf(layout.Target);
        if (target < 0)
            throw new ArgumentException($"CSV file '{table.File}' has no target column '{layout.Target}' (Task:Settings:target); " +
                                        $"its columns: {string.Join(", ", table.Columns)}.");
        int[] features;
        if (layout.Features is null) features = [.. Enumerable.Range(0, table.Columns.Count).Where(i => i != target)];
        else
        {
            var missing = layout.Features.Where(f => table.IndexOf(f) < 0).ToList();
            if (missing.Count > 0)
                throw new ArgumentException($"CSV file '{table.File}' has no column {string.Join(", ", missing.Select(m => $"'{m}'"))} " +
                                            $"(Task:Settings:features); its columns: {string.Join(", ", table.Columns)}.");
            features = [.. layout.Features.Select(table.IndexOf)];
            if (features.Contains(target))
                throw new ArgumentException($"Task:Settings:features names the target column '{table.Columns[target]}'; a target cannot be a feature.");
        }
        if (features.Length == 0)
            throw new ArgumentException($"CSV file '{table.File}' has no feature column besides the target '{table.Columns[target]}'.");
        return (features, target);
    }

    /// <summary>The training target's distinct values, in numeric order when all are numbers, else ordinal text order.</summary>
    private static string[] Classes(CsvTable table, int target)
    {
        var values = table.Rows.Select(r => r[target].Trim()).Distinct(StringComparer.Ordinal).ToList();
        var numeric = values.All(v => double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out _));
        var ordered = numeric
            ? values.OrderBy(v => double.Parse(v, NumberStyles.Float, CultureInfo.InvariantCulture)).ToArray()
            : values.Order(StringComparer.Ordinal).ToArray();
        if (ordered.Length < 2)
            throw new InvalidDataException($"CSV file '{table.File}': the target column '{table.Columns[target]}' holds one value ('{ordered[0]}') " +
                                           "in every row; classification needs at least two classes.");
        return ordered;
    }

    private static (Tensor Features, Tensor Targets) Convert(CsvTable table, int[] features, int target, string[] classes, TabularObjective objective)
    {
        var rows = table.Rows.Count;
        var x = new float[rows * features.Length];
        for (var r = 0; r < rows; r++)
            for (var f = 0; f < features.Length; f++)
                x[r * features.Length + f] = (float)table.Number(r, features[f]);
        Tensor y;
        if (objective == TabularObjective.Regression)
        {
            var values = new float[rows];
            for (var r = 0; r < rows; r++) values[r] = (float)table.Number(r, target);
            y = tensor(values);
        }
        else
        {
            var index = classes.Select((c, i) => (c, i)).ToDictionary(p => p.c, p => (long)p.i, StringComparer.Ordinal);
            var labels = new long[rows];
            for (var r = 0; r < rows; r++)
            {
                var cell = table.Rows[r][target].Trim();
                if (!index.TryGetValue(cell, out labels[r]))
                    throw new InvalidDataException($"CSV file '{table.File}' row {r + 1} (line {table.Lines[r]}), column {target + 1} " +
                                                   $"('{table.Columns[target]}'): class '{cell}' is not among the training classes ({string.Join(", ", classes)}).");
            }
            y = tensor(labels);
        }
        return (tensor(x, [rows, features.Length]), y);
    }

    /// <summary>Training and validation row indices: the first round(fraction·n) of a seeded permutation are validation.</summary>
    private static (Tensor Train, Tensor Validation) SplitRows(long rows, double fraction, long seed, string file)
    {
        var validation = (long)Math.Round(fraction * rows);
        if (validation < 1 || validation >= rows)
            throw new ArgumentException($"Task:Settings:validation_fraction = {fraction.ToString(CultureInfo.InvariantCulture)} of the {rows} rows of " +
                                        $"'{file}' leaves {validation} validation and {rows - validation} training rows; each needs at least one. " +
                                        "Change the fraction, or give the validation rows in their own val.csv beside train.csv.");
        using var generator = new Generator((ulong)seed);
        var order = randperm(rows, generator: generator);
        return (order.narrow(0, validation, rows - validation), order.narrow(0, 0, validation));
    }

    /// <summary>Frees every split.</summary>
    public void Dispose()
    {
        Train.Dispose();
        Validation.Dispose();
        Test?.Dispose();
    }
}
